#!/usr/bin/env bash
# The whole balcony pipeline on one machine: the nooper with the embedded
# NATS server, three agents (fozzie, statler, waldorf .example.com, each with
# its own root directory), the approver, a bare repository with the
# committer's hook, and three pushes whose delta noops and approval status
# are printed; then the commits are approved through the CLI and the
# applier applies them: on the canary (fozzie), then, once promoted, on the
# rest, printing the rollout as it goes.
#
#   BALCONY_DEMO_PORT=4222   port of the embedded bus (for the nats CLI)
#   BALCONY_DEMO_HTTP=8081   port of the web view (http://127.0.0.1:8081/)
#   BALCONY_DEMO_KEEP=1      keep everything running after the deltas, until Ctrl-C
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
bin=$top/bin
demo=$top/.demo
port=${BALCONY_DEMO_PORT:-4222}
url=nats://127.0.0.1:$port
http=127.0.0.1:${BALCONY_DEMO_HTTP:-8081}
hosts="fozzie statler waldorf"

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

rm -rf "$demo" && mkdir -p "$demo/logs"
say "sample Puppet repository in $demo/puppet.git"
"$top/scripts/sample-repo.sh" init "$demo/puppet.git" "$demo/work"

say "applying the initial code to each host's root (their current state)"
for h in $hosts; do
  mkdir -p "$demo/hosts/$h/root"
  (cd "$demo/work" && FACTER_balcony_root="$demo/hosts/$h/root" puppet apply --color=false \
    --certname "$h.example.com" --vardir "$demo/setup-var" --modulepath modules \
    --report --reports=none --lastrunreport "$demo/setup-report.yaml" manifests \
    >"$demo/logs/setup-$h.log" 2>&1)
done

say "starting the nooper with the embedded bus on $url"
"$bin/nooper" --listen "127.0.0.1:$port" --data-dir "$demo/nats" --run-timeout 3m \
  --repo "$demo/puppet.git" --state-dir "$demo/nooper" \
  >"$demo/logs/nooper.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q "nooper started" "$demo/logs/nooper.log" && break; sleep 0.2; done
grep -q "nooper started" "$demo/logs/nooper.log" || { cat "$demo/logs/nooper.log"; exit 1; }

say "starting three agents (waldorf's code comes from the bus alone: --code bus, no --repo)"
for h in $hosts; do
  code=(--repo "$demo/puppet.git")
  [ "$h" = waldorf ] && code=(--code bus)
  "$bin/agent" --nats-url "$url" --host "$h.example.com" --state-dir "$demo/hosts/$h/state" \
    --root "$demo/hosts/$h/root" "${code[@]}" --log-format json \
    >"$demo/logs/agent-$h.log" 2>&1 &
  pids+=($!)
done
for h in $hosts; do
  for _ in $(seq 100); do grep -q "agent started" "$demo/logs/agent-$h.log" && break; sleep 0.2; done
  grep -q "agent started" "$demo/logs/agent-$h.log" || { cat "$demo/logs/agent-$h.log"; exit 1; }
done

say "starting the approver (kermit@example.com, the sample commits' author, is kermit; gonzo is an admin)"
printf 'admins: [gonzo]\nlogins:\n  kermit@example.com: kermit\n' > "$demo/approver.yaml"
"$bin/approver" --nats-url "$url" --repo "$demo/puppet.git" --state-dir "$demo/approver" \
  --config "$demo/approver.yaml" >"$demo/logs/approver.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q "approver started" "$demo/logs/approver.log" && break; sleep 0.2; done
grep -q "approver started" "$demo/logs/approver.log" || { cat "$demo/logs/approver.log"; exit 1; }

say "starting the web view on http://$http/ (read-only: no authenticating proxy in front)"
"$bin/web" --nats-url "$url" --http-listen "$http" >"$demo/logs/web.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q "serving the web view" "$demo/logs/web.log" && break; sleep 0.2; done
grep -q "serving the web view" "$demo/logs/web.log" || { cat "$demo/logs/web.log"; exit 1; }

say "installing the post-receive hook"
"$bin/committer" install-hook --nats-url "$url" --branch main "$demo/puppet.git"

start=$(date +%s.%N)
shas=()
for step in 1 2 3; do
  "$top/scripts/sample-repo.sh" step "$step" "$demo/work"
  shas+=("$(git -C "$demo/work" rev-parse HEAD)")
  say "pushed: $(git -C "$demo/work" log -1 --format='%h %s')"
done

for sha in "${shas[@]}"; do
  say "delta noop of $(git -C "$demo/work" log -1 --format='%h %s' "$sha")"
  "$bin/nooper" show --nats-url "$url" --wait 5m "$sha"
done
end=$(date +%s.%N)

for sha in "${shas[@]}"; do
  say "approval status of $(git -C "$demo/work" log -1 --format='%h %s' "$sha")"
  "$bin/approver" status --nats-url "$url" "$sha"
done

seat=${shas[1]}
say "statler approves his seat through the CLI"
"$bin/approver" approve --nats-url "$url" --as statler "$seat"
"$bin/approver" status --nats-url "$url" "$seat"

say "gonzo, an admin, approves the other two commits"
"$bin/approver" approve --nats-url "$url" --as gonzo "${shas[0]}"
"$bin/approver" approve --nats-url "$url" --as gonzo "${shas[2]}"

say "starting the applier: fozzie is the canary, then a promote, then the rest"
cat > "$demo/applier.yaml" <<YAML
apply_sets:
  - name: canaries
    hosts: [fozzie.example.com]
    then: promote
  - name: all
    hosts: ["*"]
    batch: 1
YAML
"$bin/applier" --nats-url "$url" --repo "$demo/puppet.git" --state-dir "$demo/applier" \
  --config "$demo/applier.yaml" --poll 1s --run-timeout 5m >"$demo/logs/applier.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q "applier started" "$demo/logs/applier.log" && break; sleep 0.2; done
grep -q "applier started" "$demo/logs/applier.log" || { cat "$demo/logs/applier.log"; exit 1; }

say "recording what the hosts run now (the initial commit) as their last applied revision"
initial=$(git -C "$demo/work" rev-list --max-parents=0 HEAD)
"$bin/applier" baseline --nats-url "$url" --as gonzo "$initial"

# wait_for <text>: print the rollout whenever it changes until its status says text.
wait_for() {
  local last="" now
  for _ in $(seq 1500); do
    now=$("$bin/applier" status --nats-url "$url" 2>&1 || true)
    [ "$now" != "$last" ] && { printf '%s\n\n' "$now"; last=$now; }
    grep -q "$1" <<<"$now" && return 0
    grep -q "halted: " <<<"$now" && { cat "$demo/logs/applier.log"; exit 1; }
    sleep 0.2
  done
  echo "the rollout did not reach: $1"; cat "$demo/logs/applier.log"; exit 1
}
wait_for "waiting for .applier promote."
say "the canary applied it; gonzo promotes"
"$bin/applier" promote --nats-url "$url" --as gonzo
wait_for "now: complete"
say "what the hosts have now"
for h in $hosts; do
  printf '%s: %s\n' "$h" "$(tr '\n' ' ' < "$demo/hosts/$h/root/etc/issue" 2>/dev/null)"
done

puppet_total=$(cat "$demo"/logs/agent-*.log | sed -n 's/.*"puppet_seconds":\([0-9.]*\).*/\1/p' | awk '{s+=$1} END {printf "%.1f", s}')
runs=$(cat "$demo"/logs/agent-*.log | grep -c '"run finished"' || true)
say "timing"
awk -v s="$start" -v e="$end" -v p="$puppet_total" -v n="$runs" 'BEGIN {
  printf "pipeline, first push to last delta: %.1f s\n", e - s
  printf "agents: %d Puppet runs, %.1f s of Puppet time in all (3 agents in parallel on this machine)\n", n, p }'

say "the review in a browser: http://$http/ (the fleet: http://$http/fleet)"
if [ "${BALCONY_DEMO_KEEP:-}" = 1 ]; then
  say "the web view stays up on http://$http/, the bus on $url: try 'nats --server $url stream ls' and 'nats --server $url sub \"balcony.event.>\"'; Ctrl-C stops"
  wait
fi
