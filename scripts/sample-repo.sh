#!/usr/bin/env bash
# Builds and advances the sample Puppet repository used by the demo and the
# end-to-end test, so both push exactly the same history.
#
#   sample-repo.sh init <bare-repo> <work-clone>   initial commit, pushed
#   sample-repo.sh step <1|2|3> <work-clone>        one more push
#
# Step 1 changes the motd on every host, step 2 adds a file on statler only,
# step 3 merges a side branch of two commits (both edit /etc/issue).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
export GIT_AUTHOR_NAME="Kermit" GIT_AUTHOR_EMAIL="kermit@example.com"
export GIT_COMMITTER_NAME="Kermit" GIT_COMMITTER_EMAIL="kermit@example.com"

commit() { git -C "$work" add -A && git -C "$work" commit -qm "$1"; }

case "${1:-}" in
init)
  bare=$2 work=$3
  git init -q --bare -b main "$bare"
  git init -q -b main "$work"
  cp -r "$here/examples/sample-repo/." "$work/"
  commit "Initial Puppet code"
  git -C "$work" remote add origin "$bare"
  git -C "$work" push -q origin main
  ;;
step)
  work=$3
  case "$2" in
  1)
    sed -i "s/Welcome to the Muppet Theater./Welcome to the Muppet Theater, where the show goes on./" \
      "$work/modules/base/manifests/init.pp"
    commit "motd: tell every host the show goes on"
    ;;
  2)
    cat > "$work/manifests/nodes/statler.pp" <<'PP'
node 'statler.example.com' {
  include base

  file { "${facts['balcony_root']}/etc/balcony/seat":
    ensure  => file,
    content => "left box\n",
  }
}
PP
    commit "statler: record his seat"
    ;;
  3)
    git -C "$work" checkout -q -b issue
    issue=$work/modules/base/manifests/issue.pp
    sed -i 's/content => "Muppet Theater\\n"/content => "Muppet Theater, stage left\\n"/' "$issue"
    commit "issue: say where the stage is"
    sed -i 's/content => "Muppet Theater, stage left\\n"/content => "Muppet Theater, stage left\\nBalcony: Statler and Waldorf\\n"/' "$issue"
    commit "issue: name the balcony"
    git -C "$work" checkout -q main
    git -C "$work" merge -q --no-ff -m "Merge branch 'issue'" issue
    ;;
  *) echo "unknown step $2" >&2; exit 2 ;;
  esac
  git -C "$work" push -q origin main
  ;;
*)
  echo "usage: $0 init <bare> <work> | step <1|2|3> <work>" >&2
  exit 2
  ;;
esac
