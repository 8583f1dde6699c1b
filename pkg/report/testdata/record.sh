#!/bin/bash
# record.sh records the Puppet reports that pkg/report and pkg/delta test
# against. It writes a small Puppet code base at several revisions (r0..r10,
# a merge m11 and a side revision x1), gives three hosts each their own root
# directory (the balcony_root fact prefixes every managed path), and runs
# `puppet apply --noop` for every revision on every host exactly as the agent
# does. Roots are reset before every run, so each run sees the same live
# state. Output, beside this script:
#   <rev>.<host>.yaml     Puppet's last-run report
#   <rev>.<host>.stderr   stderr of a run that wrote no report (compile error)
#   record.json           the temp directory used, to strip code and root paths
# Scenarios (see pkg/delta tests):
#   r0  applied revision; waldorf's app.conf was hand-edited (drift)
#   r1  app.conf workers 2 -> 4 on all hosts (notifies Service[app])
#   r2  per-host content (etc/role), a Sensitive file, a show_diff => false file
#   r3  a fozzie-only file and a noop => false file (changes during the noop)
#   r4  the same etc/banner from two modules (web on fozzie, db elsewhere)
#   r5  motd changed (pending);  r6  motd back (withdrawn)
#   r7  app.conf edited again (workers 6, threads)
#   r8  syntax error in the db module (statler, waldorf fail) + web change
#   r9  db module fixed + db change;  r10 motd "welcome back"
#   m11 merge of r10 with a side branch off r9 adding etc/feature
#   x1  r1 plus a resource that fails on waldorf only
# New files show only "ensure: absent -> file" in a noop (no content, no
# diff), so files whose content matters to a scenario exist beforehand.
# Usage: ./record.sh   (needs puppet 7 in PATH; takes about two minutes)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
T=$(mktemp -d /tmp/balcony-record.XXXXXX)
hosts="fozzie.example.com statler.example.com waldorf.example.com"

appconf() { # workers [extra line]
	printf '# app.conf, managed by puppet\n[server]\nlisten=0.0.0.0\nport=80\n'
	printf 'workers=%s\n' "$1"
	if [ -n "${2:-}" ]; then printf '%s\n' "$2"; fi
	printf 'timeout=30\nkeepalive=on\n\n[log]\nlevel=info\npath=/var/log/app.log\nrotate=daily\n'
}

# mkcode rev key=value...: writes the code base of one revision.
mkcode() {
	local rev=$1; shift
	local workers=2 extra="" motd="welcome" role=no secret=no fozzie=no banner=no
	local webconf=no dbsyntax=no dbconf=no feature=no failing=no kv
	for kv in "$@"; do local "$kv"; done
	local c=$T/code/$rev
	mkdir -p "$c/manifests" "$c/modules/site/manifests" "$c/modules/base/manifests" \
		"$c/modules/web/manifests" "$c/modules/db/manifests"
	local app
	app=$(appconf "$workers" "$extra" | sed 's/$/\\n/' | tr -d '\n')

	cat >"$c/modules/site/manifests/conf.pp" <<PP
# site::conf manages one configuration file under etc/.
define site::conf(String \$content) {
  file { "\${facts['balcony_root']}/etc/\${title}.conf":
    content => \$content,
  }
}
PP
	{
		echo 'class base(String $role) {'
		echo '  $root = $facts['"'"'balcony_root'"'"']'
		echo "  exec { 'permadiff': command => '/bin/true' }"
		echo '  file { "${root}/var/stamp": content => "${Timestamp.new}\n" }'
		if [ "$role" = yes ]; then echo '  file { "${root}/etc/role": content => "role=${role}\n" }'; fi
		echo "  site::conf { 'app':"
		echo "    content => \"$app\","
		echo "    notify  => Service['app'],"
		echo '  }'
		echo "  service { 'app':"
		echo '    ensure   => running,'
		echo '    provider => base,'
		echo "    status   => '/bin/true',"
		echo "    start    => '/bin/true',"
		echo "    stop     => '/bin/true',"
		echo '  }'
		echo "  file { \"\${root}/etc/motd\": content => \"$motd\\n\" }"
		if [ "$secret" = yes ]; then
			echo '  file { "${root}/etc/secret": content => Sensitive("s3cret\n") }'
			echo '  file { "${root}/etc/private": content => "private\n", show_diff => false }'
		fi
		if [ "$feature" = yes ]; then echo '  include feature'; fi
		echo '}'
	} >"$c/modules/base/manifests/init.pp"
	if [ "$feature" = yes ]; then
		mkdir -p "$c/modules/feature/manifests"
		echo 'class feature { file { "${facts['"'"'balcony_root'"'"']}/etc/feature": content => "on\n" } }' \
			>"$c/modules/feature/manifests/init.pp"
	fi
	{
		echo 'class web {'
		echo '  $root = $facts['"'"'balcony_root'"'"']'
		if [ "$banner" = yes ]; then echo '  file { "${root}/etc/banner": content => "managed by puppet\n" }'; fi
		if [ "$fozzie" = yes ]; then
			echo '  file { "${root}/etc/fozzie": content => "only fozzie\n" }'
			echo '  file { "${root}/etc/web-ready": content => "yes\n", noop => false }'
		fi
		if [ "$webconf" = yes ]; then echo "  site::conf { 'web': content => \"docroot=/srv/www\\n\" }"; fi
		echo '}'
	} >"$c/modules/web/manifests/init.pp"
	{
		echo 'class db {'
		echo '  $root = $facts['"'"'balcony_root'"'"']'
		if [ "$dbsyntax" = yes ]; then echo '  file { "${root}/etc/db.conf" content => "broken" }'; fi
		if [ "$banner" = yes ]; then echo '  file { "${root}/etc/banner": content => "managed by puppet\n" }'; fi
		if [ "$dbconf" = yes ]; then echo "  site::conf { 'db': content => \"max_connections=100\\n\" }"; fi
		echo '}'
	} >"$c/modules/db/manifests/init.pp"
	{
		echo "node 'fozzie.example.com' {"
		echo "  class { 'base': role => 'web' }"
		echo '  include web'
		echo '}'
		if [ "$failing" = yes ]; then
			echo "node 'statler.example.com' {"
			echo "  class { 'base': role => 'db' }"
			echo '  include db'
			echo '}'
			echo "node 'waldorf.example.com' {"
			echo "  class { 'base': role => 'db' }"
			echo '  include db'
			echo "  file { \"\${facts['balcony_root']}/etc/from-source\": source => '/nonexistent/balcony/file' }"
			echo '}'
		else
			echo "node /^(statler|waldorf)\\.example\\.com\$/ {"
			echo "  class { 'base': role => 'db' }"
			echo '  include db'
			echo '}'
		fi
	} >"$c/manifests/site.pp"
}

# Live state of each host before every run.
for h in $hosts; do
	p=$T/pristine/$h
	mkdir -p "$p/etc" "$p/var"
	if [ "$h" = waldorf.example.com ]; then appconf 8 >"$p/etc/app.conf"; else appconf 2 >"$p/etc/app.conf"; fi
	echo welcome >"$p/etc/motd"
	echo old >"$p/var/stamp"
	echo old >"$p/etc/secret"
	echo old >"$p/etc/private"
	echo role=unset >"$p/etc/role"
done

mkcode r0
mkcode r1 workers=4
mkcode r2 workers=4 role=yes secret=yes
mkcode r3 workers=4 role=yes secret=yes fozzie=yes
mkcode r4 workers=4 role=yes secret=yes fozzie=yes banner=yes
mkcode r5 workers=4 role=yes secret=yes fozzie=yes banner=yes motd="maintenance tonight"
mkcode r6 workers=4 role=yes secret=yes fozzie=yes banner=yes
mkcode r7 workers=6 extra=threads=2 role=yes secret=yes fozzie=yes banner=yes
mkcode r8 workers=6 extra=threads=2 role=yes secret=yes fozzie=yes banner=yes webconf=yes dbsyntax=yes
mkcode r9 workers=6 extra=threads=2 role=yes secret=yes fozzie=yes banner=yes webconf=yes dbconf=yes
mkcode r10 workers=6 extra=threads=2 role=yes secret=yes fozzie=yes banner=yes webconf=yes dbconf=yes motd="welcome back"
mkcode m11 workers=6 extra=threads=2 role=yes secret=yes fozzie=yes banner=yes webconf=yes dbconf=yes motd="welcome back" feature=yes
mkcode x1 workers=4 failing=yes

rm -f "$here"/*.yaml "$here"/*.stderr
for rev in r0 r1 r2 r3 r4 r5 r6 r7 r8 r9 r10 m11 x1; do
	for h in $hosts; do
		rm -rf "$T/hosts/$h" "$T/var"
		mkdir -p "$T/hosts" "$T/var" "$T/conf"
		cp -a "$T/pristine/$h" "$T/hosts/$h"
		c=$T/code/$rev
		out=$here/$rev.$h
		# Puppet exits 0 or 2 (changes) on success; a compile error writes
		# no report file, only stderr.
		FACTER_balcony_root=$T/hosts/$h puppet apply --noop --show_diff --color=false \
			--diff_args='-U 1000000' --certname "$h" --vardir "$T/var" --confdir "$T/conf" \
			--codedir "$c" --modulepath "$c/modules" --report --reports=none \
			--lastrunreport "$out.yaml" --no-storeconfigs "$c/manifests" \
			>/dev/null 2>"$T/stderr" || true
		if [ ! -s "$out.yaml" ]; then
			grep -v 'environ' "$T/stderr" >"$out.stderr" || true
		fi
		echo "recorded $rev $h"
	done
done
printf '{"tmp": "%s"}\n' "$T" >"$here/record.json"
