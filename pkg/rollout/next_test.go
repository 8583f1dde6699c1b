package rollout_test

import (
	"testing"

	"github.com/balcony-dev/balcony/pkg/rollout"
)

// canaryThenAll is a canary, a promote, then the rest two at a time.
const canaryThenAll = `
apply_sets:
  - {name: canaries, hosts: ["c*"], batch: 1, then: promote}
  - {name: all, hosts: ["*"], batch: 2, max_failures: 1}
`

var fleet = rollout.Input{Hosts: []string{"c1", "a1", "a2", "a3", "a4", "a5"}}

func TestNext(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cfg    string
		in     rollout.Input
		script string
	}{
		{
			name: "canary, promote, then batches: a batch starts only when the one before has ended",
			cfg:  canaryThenAll, in: fleet,
			script: `
next        => set canaries, batch 1/1: start c1 (6 pending)
notes       => set canaries started: 1 host in 1 batch of 1
next        => set canaries, batch 1/1: start c1 (6 pending)  # nothing recorded yet: the same answer
notes       =>                                                 # and no note twice
go
next        => set canaries, batch 1/1: waiting for 1 running (1 running, 5 pending)
promote     => promote: rollout is not waiting at a gate: set canaries is applying   # no early promote
done c1
next        => set canaries ended: waiting for applier promote (1 done, 5 pending)
notes       => set canaries ended: 1 done; waiting for applier promote
next        => set canaries ended: waiting for applier promote (1 done, 5 pending)
notes       =>
promote all => promote all: rollout is not waiting at a gate: the rollout waits after set canaries
promote canaries
next        => set all, batch 1/3: start a1, a2 (1 done, 5 pending)
notes       => set canaries: promoted by kermit | set all started: 5 hosts in 3 batches of 2
go
done a1
next        => set all, batch 1/3: waiting for 1 running (2 done, 1 running, 3 pending)
done a2
next        => set all, batch 2/3: start a3, a4 (3 done, 3 pending)
go
done a3
done a4
next        => set all, batch 3/3: start a5 (5 done, 1 pending)
go
done a5
next        => complete: 6 done
notes       => set all ended: 5 done | rollout complete: 6 done
next        => complete: 6 done
notes       =>
start a1    => rollout is complete
promote     => rollout is complete
halt stop   => rollout is complete
resume      => rollout is complete
`,
		},
		{
			name: "the concurrency cap counts every running host, whatever its set",
			cfg: `
concurrency: 2
apply_sets:
  - {name: first, hosts: ["f*"]}
  - {name: second, hosts: ["*"]}
`,
			in: rollout.Input{Hosts: []string{"f1", "f2", "f3", "s1", "s2", "s3"}},
			script: `
next     => set first, batch 1/2: start f1, f2 (6 pending)
skip f1 locked by gonzo
start f2
next     => set first, batch 1/2: waiting for 1 running (1 skipped, 1 running, 4 pending)
done f2
next     => set first, batch 2/2: start f3 (1 done, 1 skipped, 4 pending)
go
done f3
next     => set second, batch 1/2: start s1, s2 (2 done, 1 skipped, 3 pending)
go
halt retry f1
resume   # f1 is tried again: its set comes first, but s1 and s2 fill the cap
next     => set first, batch 1/2: waiting for 2 running (2 done, 2 running, 2 pending)
done s1
next     => set first, batch 1/2: start f1 (3 done, 1 running, 2 pending)
go
next     => set first, batch 1/2: waiting for 2 running (3 done, 2 running, 1 pending)
done f1
done s2
next     => set second, batch 2/2: start s3 (5 done, 1 pending)
`,
		},
		{
			name: "a set halts past its max_failures; running hosts still end; resume acknowledges the failures",
			cfg:  canaryThenAll, in: fleet,
			script: `
next
go
done c1
next
promote
next        => set all, batch 1/3: start a1, a2 (1 done, 5 pending)
go
fail a1 File[/etc/motd]: changed, nobody approved it
next        => set all, batch 1/3: waiting for 1 running (1 done, 1 failed, 1 running, 3 pending)   # 1 failure is allowed
fail a2 puppet exited 1
next        => halted: set all: 2 hosts failed, more than max_failures 1 allows (1 of 5 hosts): a1 (File[/etc/motd]: changed, nobody approved it), a2 (puppet exited 1)
notes       => halted: set all: 2 hosts failed, more than max_failures 1 allows (1 of 5 hosts): a1 (File[/etc/motd]: changed, nobody approved it), a2 (puppet exited 1)
next        => halted: set all: 2 hosts failed...
notes       =>
start a3    => rollout is halted: set all: 2 hosts failed...
promote     => rollout is halted: set all...
halt again  => rollout is halted: set all...
resume
host a1     => failed: File[/etc/motd]: changed, nobody approved it
next        => set all, batch 2/3: start a3, a4 (1 done, 2 failed, 3 pending)
go
fail a3 again
next        => set all, batch 2/3: waiting for 1 running (1 done, 3 failed, 1 running, 1 pending)   # counting from the resume: 1 is allowed
fail a4 and again
next        => halted: set all: 2 hosts failed, more than max_failures 1 allows (1 of 5 hosts): a3 (again), a4 (and again)
resume
resume      => rollout is not halted
next        => set all, batch 3/3: start a5 (1 done, 4 failed, 1 pending)
go
done a5
next        => complete: 2 done, 4 failed
`,
		},
		{
			name: "hosts still running when a halt comes end while halted, and count after the resume",
			cfg:  "apply_sets: [{name: all, hosts: ['*'], batch: 3}]", in: rollout.Input{Hosts: []string{"a", "b", "c"}},
			script: `
next        => set all, batch 1/1: start a, b, c (3 pending)
go
fail a disk full
next        => halted: set all: 1 host failed, more than max_failures 0 allows (0 of 3 hosts): a (disk full) (2 still running)
fail b disk full
next        => halted: set all: 1 host failed, more than max_failures 0 allows (0 of 3 hosts): a (disk full) (1 still running)
resume      # acknowledges a and b; c is still running
next        => set all, batch 1/1: waiting for 1 running (2 failed, 1 running)
fail c disk full
next        => halted: set all: 1 host failed, more than max_failures 0 allows (0 of 3 hosts): c (disk full)
`,
		},
		{
			name: "the global budget counts the failures of every set",
			cfg: `
failure_budget: 1
apply_sets:
  - {name: one, hosts: ["a*"], max_failures: 5, then: soak 1m}
  - {name: two, hosts: ["*"], max_failures: 50%}
`,
			in: rollout.Input{Hosts: []string{"a1", "a2", "b1", "b2", "b3", "b4"}},
			script: `
next        => set one, batch 1/1: start a1, a2 (6 pending)
go
fail a1 boom
done a2
next        => set one ended: soaking until 2026-01-01T00:01:00Z (1 done, 1 failed, 4 pending)
wait 1m
next        => set two, batch 1/1: start b1, b2, b3, b4 (1 done, 1 failed, 4 pending)
go
fail b1 bang
next        => halted: failure budget: 2 hosts failed across all sets, more than 1 allows (1 of 6 hosts): a1 (boom), b1 (bang) (3 still running)
`,
		},
		{
			name: "two thresholds exceeded at once are both named",
			cfg: `
failure_budget: 10%
apply_sets:
  - {name: all, hosts: ["*"], batch: 3, max_failures: 1}
`,
			in: rollout.Input{Hosts: []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"}},
			script: `
next
go
fail a x
fail b y
next        => halted: set all: 2 hosts failed, more than max_failures 1 allows (1 of 10 hosts): a (x), b (y); failure budget: 2 hosts failed across all sets, more than 10% allows (1 of 10 hosts): a (x), b (y) (1 still running)
`,
		},
		{
			name: "a halt reason names five hosts, then how many more",
			cfg:  "apply_sets: [{name: all, hosts: ['*'], max_failures: 2}]",
			in:   rollout.Input{Hosts: []string{"a", "b", "c", "d", "e", "f", "g"}},
			script: `
next
go
fail a
fail b
fail c
fail d
fail e
fail f
fail g
next        => halted: set all: 7 hosts failed, more than max_failures 2 allows (2 of 7 hosts): a, b, c, d, e and 2 more
`,
		},
		{
			name: "a soak counts from the set's last host's end; a promote ends it early",
			cfg: `
apply_sets:
  - {name: one, hosts: ["a*"], then: soak 10m}
  - {name: two, hosts: ["b*"], then: soak 1h}
  - {name: three, hosts: ["*"]}
`,
			in: rollout.Input{Hosts: []string{"a1", "b1", "c1"}},
			script: `
next        => set one, batch 1/1: start a1 (3 pending)
go
wait 3m
done a1
wait 2m     # the applier notices 2 minutes later
next        => set one ended: soaking until 2026-01-01T00:13:00Z (1 done, 2 pending)
notes       => set one ended: 1 done; soaking 10m0s
wait 7m
next        => set one ended: soaking until 2026-01-01T00:13:00Z (1 done, 2 pending)
wait 1m
next        => set two, batch 1/1: start b1 (1 done, 2 pending)
notes       => set one: soak over | set two started: 1 host in 1 batch of 1
go
done b1
next        => set two ended: soaking until 2026-01-01T01:13:00Z (2 done, 1 pending)
promote two
next        => set three, batch 1/1: start c1 (2 done, 1 pending)
notes       => set two: promoted by kermit | set three started: 1 host in 1 batch of 1
`,
		},
		{
			name: "skipped hosts do not count as failed, are reported, and are retried on resume; an opened gate stays open",
			cfg:  canaryThenAll, in: fleet,
			script: `
next
go
skipped c1 Puppet is disabled: maintenance
next        => set canaries ended: waiting for applier promote (1 skipped, 5 pending)
promote
next        => set all, batch 1/3: start a1, a2 (1 skipped, 5 pending)
skip a1 locked by gonzo: disk swap
start a2
next        => set all, batch 1/3: waiting for 1 running (2 skipped, 1 running, 3 pending)
host a1     => skipped: locked by gonzo: disk swap
skip a1 x   => skip a1: host is not in a state that allows this: skipped
done a2
halt unlock a1 and c1 first
resume
host a1     => pending
next        => set canaries, batch 1/1: start c1 (1 done, 5 pending)
go
run c1      => run-c1-2   # its first run (skipped by the agent) had id run-c1-1: the agent would not run it again
done c1
next        => set all, batch 1/3: start a1 (2 done, 4 pending)   # no second promote
notes       =>
`,
		},
		{
			name: "results count only for the host's current run",
			cfg:  "apply_sets: [{name: all, hosts: ['*']}]", in: rollout.Input{Hosts: []string{"a", "b"}},
			script: `
next
go
start a        # its first run expired unapplied: asked again with a new id
host a         => running
run a          => run-a-2
finish-run a run-a-1 done  => finish a run run-a-1 (current run "run-a-2"): result of a run that is not the host's current run
finish-run a run-a-2 done
finish-run a run-a-2 done  # the same result again changes nothing
finish-run a run-a-2 failed => finish a: host is not in a state that allows this: done
start a        => start a: host is not in a state that allows this: done
start nobody   => start nobody: host not in the plan
done nobody    => finish nobody: host not in the plan
finish-run b run-b-1 running => finish b: "running" is not an end state
skip b x       => skip b: host is not in a state that allows this: running
done b
next           => complete: 2 done
`,
		},
		{
			name: "an operator halt and resume",
			cfg:  canaryThenAll, in: fleet,
			script: `
resume      => rollout is not halted
halt change freeze
next        => halted: change freeze
start c1    => rollout is halted: change freeze
resume
next        => set canaries, batch 1/1: start c1 (6 pending)
`,
		},
		{
			name: "the last host's failure halts instead of completing",
			cfg:  "apply_sets: [{name: all, hosts: ['*']}]", in: rollout.Input{Hosts: []string{"a"}},
			script: `
next
go
fail a boom
next        => halted: set all: 1 host failed, more than max_failures 0 allows (0 of 1 host): a (boom)
resume
next        => complete: 1 failed
`,
		},
		{
			name: "nothing to apply completes at once",
			cfg:  canaryThenAll, in: rollout.Input{},
			script: `
next        => complete: no host
notes       => rollout complete: no host
`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			runScript(t, mustPlan(t, tc.cfg, tc.in), tc.script)
		})
	}
}
