package chatbridge

import (
	"strings"
	"testing"

	"github.com/balcony-dev/balcony/pkg/applier"
	"github.com/balcony-dev/balcony/pkg/approver"
	"github.com/balcony-dev/balcony/pkg/delta"
	"github.com/balcony-dev/balcony/pkg/owners"
	"github.com/balcony-dev/balcony/pkg/protocol"
	"github.com/balcony-dev/balcony/pkg/review"
	"github.com/balcony-dev/balcony/pkg/rollout"
)

const sha = "0123456789abcdef0123456789abcdef01234567"

func TestStatusLines(t *testing.T) {
	commit := protocol.Commit{SHA: sha, Subject: "fix"}
	ready := review.Document{Commit: commit, Complete: true, Result: &delta.Result{Hosts: []string{"a", "b"}, Groups: []delta.Group{{ID: "g1"}}}}
	failed := review.Document{Commit: commit, Complete: true, Result: &delta.Result{Hosts: []string{"a", "b"},
		Errors: []delta.ErrorGroup{{Message: "Could not find class foo\nat line 3", Hosts: []string{"b", "a"}}}}}
	running := review.Document{Commit: commit, Progress: &review.Progress{Answered: 1, Hosts: 2}}
	needs := &approver.StatusReply{Status: owners.Status{Groups: []owners.GroupStatus{{ID: "g1", Missing: "an owner of modules/motd/: @kermit"}}}}
	held := &approver.StatusReply{Status: owners.Status{HeldBack: []string{"the noop failed on b"}}}
	approved := &approver.StatusReply{Approved: true}
	r := &applier.Rollout{ID: "r1", Target: commit,
		Plan:       rollout.Plan{Stages: []rollout.Stage{{Set: "canary", Batches: [][]string{{"a"}}}, {Set: "rest", Batches: [][]string{{"b"}}}}},
		Progress:   rollout.Progress{Hosts: map[string]rollout.HostProgress{"a": {State: rollout.Failed, Reason: "puppet failed"}}, Halted: &rollout.Halt{Set: "canary", Reason: "1 failed, 0 allowed"}},
		NotPlanned: map[string]string{"c": "no baseline"}}
	halted := &applier.StatusReply{Rollout: r, Step: &rollout.Step{Kind: rollout.StepHalted, Set: "canary", Counts: rollout.Counts{Failed: 1, Pending: 1}},
		Locks: []applier.Lock{{Host: "b", By: "piggy", Reason: "disk swap"}}}
	for _, tc := range []struct{ name, got, want string }{
		{"running", commitLine(running, nil, nil), `0123456789ab "fix": noop running (1 of 2 hosts answered)`},
		{"noop failed", commitLine(failed, nil, nil), `0123456789ab "fix": noop FAILED on a, b: Could not find class foo → approval: not evaluated yet`},
		{"needs approval", commitLine(ready, needs, nil), `0123456789ab "fix": noop ready (1 change group on 2 hosts) → needs approval: 1 of 1 change group (an owner of modules/motd/: @kermit)`},
		{"held back", commitLine(failed, held, nil), `0123456789ab "fix": noop FAILED on a, b: Could not find class foo → approval HELD BACK: the noop failed on b`},
		{"approved, no applier", commitLine(ready, approved, nil), `0123456789ab "fix": noop ready (1 change group on 2 hosts) → approved → apply: unknown (the applier does not answer)`},
		{"approved, not applied", commitLine(ready, approved, &applier.StatusReply{Blocked: "nothing approved after the hosts' revisions"}), `0123456789ab "fix": noop ready (1 change group on 2 hosts) → approved → apply: not started (nothing approved after the hosts' revisions)`},
		{"halted apply", commitLine(ready, approved, halted), `0123456789ab "fix": noop ready (1 change group on 2 hosts) → approved → apply: halted at set canary (done 0, failed 1, skipped 0, running 0, pending 1); HALTED at set canary: 1 failed, 0 allowed`},
		{"rollout", rolloutLine(halted), `rollout r1 of 0123456789ab "fix": halted at set canary (done 0, failed 1, skipped 0, running 0, pending 1); HALTED at set canary: 1 failed, 0 allowed`},
		{"no rollout", rolloutLine(&applier.StatusReply{}), "no rollout yet"},
		{"failed host", hostLine(halted, "a"), `a: FAILED in the rollout of 0123456789ab "fix", set canary: puppet failed`},
		{"locked pending host", hostLine(halted, "b"), `b: LOCKED by piggy: disk swap; PENDING in the rollout of 0123456789ab "fix", set rest`},
		{"host left out", hostLine(halted, "c"), `c: not in the rollout of 0123456789ab "fix": no baseline`},
		{"unknown host", hostLine(halted, "d"), `d: not in the rollout of 0123456789ab "fix"`},
	} {
		if tc.got != tc.want {
			t.Errorf("%s:\ngot  %s\nwant %s", tc.name, tc.got, tc.want)
		}
	}
	show := showLine(ready)
	for _, want := range []string{`0123456789ab "fix": noop ready`, "nooper show 0123456789ab", "approver status 0123456789ab"} {
		if !strings.Contains(show, want) {
			t.Errorf("show lacks %q: %s", want, show)
		}
	}
}
