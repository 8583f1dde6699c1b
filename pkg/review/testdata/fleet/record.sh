#!/bin/bash
# record.sh records the Puppet reports that the fleet-scale review tests
# (pkg/review fold_test.go) fold: eight hosts, node01..node08.example.com,
# each with its own root directory (the balcony_root fact prefixes every
# managed path), its own short hostname (an external networking fact, as
# Facter would find on a real host) and its own serial number (a fact that
# differs on every host and is not derived from the host's name). Each run
# is `puppet apply --noop` with the agent's flags and noop guard, as in
# pkg/reconcile/testdata/record.sh. Roots are reset before every run, so
# each run sees the same live state. Output, beside this script:
#   <rev>.<host>.yaml   Puppet's last-run report
#   record.json         the temp directory used, to strip code and root paths
# Revisions (each one's delta is its noop minus the previous one's):
#   r0  the applied state: etc/band.conf and etc/ntp.conf name the host
#       (certname, hostname), as the live files do: nothing to change
#   r1  band.conf port 80 -> 8080 (its diff names the host: one group per
#       host) and etc/serial gets the host's serial (differs on every host)
#   r2  ntp.conf: node01..node05 move to ntp2, node06..node08 to ntp-backup
#       (outliers); the file names the host too
#   r3  motd changed alike everywhere; etc/role web on node01..node04, db on
#       node05..node08 (two changes, neither a majority); band.conf gains a
#       line with the host's name
# Usage: ./record.sh   (needs puppet 7 in PATH; takes about a minute or two)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
guard=$here/../../../puppet/balcony_force_noop.rb
T=$(mktemp -d /tmp/balcony-fleet.XXXXXX)
hosts="node01 node02 node03 node04 node05 node06 node07 node08"
domain=example.com

# mkcode rev: writes the code base of one revision.
mkcode() {
	local rev=$1 port=80 serial=no ntp=no motd=welcome role=no alias=no
	case $rev in
	r1) port=8080 serial=yes ;;
	r2) port=8080 serial=yes ntp=yes ;;
	r3) port=8080 serial=yes ntp=yes motd="maintenance tonight" role=yes alias=yes ;;
	esac
	local c=$T/code/$rev
	mkdir -p "$c/manifests"
	{
		echo 'node default {'
		echo '  $root = $facts['"'"'balcony_root'"'"']'
		echo '  $certname = $trusted['"'"'certname'"'"']'
		echo '  $hostname = $facts['"'"'networking'"'"']['"'"'hostname'"'"']'
		printf '  $alias = %s\n' "$([ "$alias" = yes ] && echo '"alias=${hostname}-band\n"' || echo "''")"
		echo '  file { "${root}/etc/band.conf":'
		echo "    content => \"# band.conf, managed by puppet\\nhost=\${certname}\\nname=\${hostname}\\nport=$port\\n\${alias}timeout=30\\n\","
		echo '  }'
		if [ "$serial" = yes ]; then
			echo '  file { "${root}/etc/serial": content => "serial=${facts['"'"'serial'"'"']}\n" }'
		fi
		if [ "$ntp" = yes ]; then
			echo '  $ntp = $hostname ? { /^node0[678]$/ => '"'"'ntp-backup.example.com'"'"', default => '"'"'ntp2.example.com'"'"' }'
		else
			echo "  \$ntp = 'ntp1.example.com'"
		fi
		echo '  file { "${root}/etc/ntp.conf":'
		echo '    content => "# ntp.conf, managed by puppet\nserver ${ntp} iburst\n# client ${certname}\ndriftfile /var/lib/ntp/drift\n",'
		echo '  }'
		echo "  file { \"\${root}/etc/motd\": content => \"$motd\\n\" }"
		if [ "$role" = yes ]; then
			echo '  $role = $hostname ? { /^node0[1234]$/ => '"'"'web'"'"', default => '"'"'db'"'"' }'
			echo '  file { "${root}/etc/role": content => "role=${role}\n" }'
		fi
		echo '}'
	} >"$c/manifests/site.pp"
}

mkdir -p "$T/ruby"
cp "$guard" "$T/ruby/"
for rev in r0 r1 r2 r3; do mkcode $rev; done

rm -f "$here"/*.yaml
for rev in r0 r1 r2 r3; do
	for n in $hosts; do
		h=$n.$domain
		r=$T/hosts/$h s=$T/scratch/$rev.$h
		rm -rf "$r" "$s"
		mkdir -p "$r/etc" "$s/var/facts.d"
		# The live state: r0's files, and the files r1..r3 replace.
		printf '# band.conf, managed by puppet\nhost=%s\nname=%s\nport=80\ntimeout=30\n' "$h" "$n" >"$r/etc/band.conf"
		printf '# ntp.conf, managed by puppet\nserver ntp1.example.com iburst\n# client %s\ndriftfile /var/lib/ntp/drift\n' "$h" >"$r/etc/ntp.conf"
		echo welcome >"$r/etc/motd"
		echo serial=unset >"$r/etc/serial"
		echo role=unset >"$r/etc/role"
		printf 'networking:\n  hostname: %s\n  domain: %s\n  fqdn: %s\n' "$n" "$domain" "$h" >"$s/var/facts.d/networking.yaml"
		serial=$(printf %s "$h" | sha256sum | cut -c1-12)
		c=$T/code/$rev
		env RUBYLIB="$T/ruby" RUBYOPT=-rbalcony_force_noop BALCONY_FORCE_NOOP="$s/forced-noop" \
			FACTER_balcony_root="$r" FACTER_serial="$serial" \
			puppet apply --noop --show_diff --color=false --diff_args='-U 1000000' \
			--certname "$h" --vardir "$s/var" --statedir "$s/var/state" \
			--publicdir "$s/public" --lastrunfile "$s/last_run_summary.yaml" \
			--lastrunreport "$s/last_run_report.yaml" --report --reports=none \
			--no-storeconfigs --no-usecacheonfailure --catalog_cache_terminus=json \
			--confdir "$T/conf" --codedir "$c" "$c/manifests" >"$s/stdout" 2>"$s/stderr" || true
		if [ ! -s "$s/forced-noop" ]; then
			echo "the noop guard did not load" >&2
			exit 1
		fi
		cp "$s/last_run_report.yaml" "$here/$rev.$h.yaml"
		echo "recorded $rev $h"
	done
done
printf '{"tmp": "%s"}\n' "$T" >"$here/record.json"
