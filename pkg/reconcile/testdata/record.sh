#!/bin/bash
# record.sh records the Puppet reports that pkg/reconcile tests against: for
# each case, a host's noop of a revision and then its real apply of the same
# revision on the same host, with the live state changed by hand (or not)
# between the two. Runs use the agent's flags (pkg/puppet runFlags: whole-
# file diffs, --catalog_cache_terminus=json) and its noop guard (every
# resource forced to noop through RUBYOPT, as pkg/puppet/guard.go does), so
# reports parse as the agent's do. Every managed path is under the host's
# root (the balcony_root fact). Output, beside this script:
#   <case>.noop.yaml, <case>.apply.yaml       Puppet's last-run reports
#   <case>.noop.catalog.json, <case>.apply.catalog.json   compiled catalogs
#   record.json   the temp directory used, to strip code and root paths
# Cases (the hand edits happen after the noop, before the apply):
#   match    nothing touched: the apply does what the noop showed
#   edited   etc/app.conf edited, etc/key's mode changed, etc/motd removed
#   fixed    etc/app.conf and etc/motd given their desired content, etc/key
#            its desired mode: the noop's changes to them do not happen
#   failing  the code has an exec that fails in the apply (its noop shows
#            it would run) and a file that requires it
# Usage: ./record.sh   (needs puppet 7 in PATH; takes about a minute)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
guard=$here/../../puppet/balcony_force_noop.rb
T=$(mktemp -d /tmp/balcony-reconcile.XXXXXX)
host=kermit.example.com
c=$T/code

appconf() { # workers
	printf '[server]\nport=80\nworkers=%s\ntimeout=30\n' "$1"
}

mkdir -p "$c/manifests" "$T/ruby"
cp "$guard" "$T/ruby/"
cat >"$c/manifests/site.pp" <<'PP'
node default {
  $root = $facts['balcony_root']
  file { "${root}/etc/app.conf":
    content => "[server]\nport=80\nworkers=4\ntimeout=30\n",
    notify  => [Service['app'], Exec['reload']],
  }
  service { 'app':
    ensure   => running,
    provider => base,
    status   => '/bin/true',
    start    => '/bin/true',
    stop     => '/bin/true',
  }
  exec { 'reload':
    command     => '/bin/true',
    refreshonly => true,
  }
  file { "${root}/etc/motd": content => "welcome back\n" }
  file { "${root}/etc/key": content => "key\n", mode => '0600' }
  file { "${root}/etc/new": content => "new\n" }
  file { "${root}/etc/ready": content => "ready\n", noop => false }
  file { "${root}/var/stamp": content => "${Timestamp.new}\n" }
  exec { 'permadiff': command => '/bin/true' }
  notify { 'hello': }
  if $facts['balcony_case'] == 'failing' {
    exec { 'migrate': command => '/bin/sh -c "exit 3"' }
    file { "${root}/etc/migrated": content => "yes\n", require => Exec['migrate'] }
  }
}
PP

# run case kind: one puppet apply, noop (guarded) or real.
run() {
	local case=$1 kind=$2 s=$T/scratch/$1.$2
	mkdir -p "$s"
	local mode=--no-noop env=()
	if [ "$kind" = noop ]; then
		mode=--noop
		env=(RUBYLIB="$T/ruby" RUBYOPT=-rbalcony_force_noop BALCONY_FORCE_NOOP="$s/forced-noop")
	fi
	# Puppet exits 0, 2 (changes), 4 or 6 (failures): all leave a report.
	env "${env[@]}" FACTER_balcony_root="$T/hosts/$case" FACTER_balcony_case="$case" \
		puppet apply "$mode" --show_diff --color=false --diff_args='-U 1000000' \
		--certname "$host" --vardir "$s/var" --statedir "$s/var/state" \
		--publicdir "$s/public" --lastrunfile "$s/last_run_summary.yaml" \
		--lastrunreport "$s/last_run_report.yaml" --report --reports=none \
		--no-storeconfigs --no-usecacheonfailure --catalog_cache_terminus=json \
		--modulepath "$c/modules" --confdir "$T/conf" --codedir "$c" \
		"$c/manifests" >"$s/stdout" 2>"$s/stderr" || true
	if [ "$kind" = noop ] && [ ! -s "$s/forced-noop" ]; then
		echo "the noop guard did not load" >&2
		exit 1
	fi
	cp "$s/last_run_report.yaml" "$here/$case.$kind.yaml"
	cp "$s/var/client_data/catalog/$host.json" "$here/$case.$kind.catalog.json"
}

rm -f "$here"/*.yaml "$here"/*.catalog.json
for case in match edited fixed failing; do
	r=$T/hosts/$case
	mkdir -p "$r/etc" "$r/var"
	appconf 2 >"$r/etc/app.conf"
	echo welcome >"$r/etc/motd"
	echo key >"$r/etc/key"
	chmod 0644 "$r/etc/key"
	echo old >"$r/var/stamp"
	echo unset >"$r/etc/ready"
	run "$case" noop
	case $case in
	edited)
		appconf 3 >"$r/etc/app.conf"
		chmod 0640 "$r/etc/key"
		rm "$r/etc/motd"
		;;
	fixed)
		appconf 4 >"$r/etc/app.conf"
		echo 'welcome back' >"$r/etc/motd"
		chmod 0600 "$r/etc/key"
		;;
	esac
	run "$case" apply
	echo "recorded $case"
done
printf '{"tmp": "%s", "host": "%s"}\n' "$T" "$host" >"$here/record.json"
