package applier_test

import (
	"flag"
	"path/filepath"
	"testing"
	"time"

	"github.com/balcony-dev/balcony/pkg/applier"
	"github.com/balcony-dev/balcony/pkg/bus/bustest"
	"github.com/balcony-dev/balcony/pkg/protocol"
	"github.com/balcony-dev/balcony/pkg/rollout"
)

var update = flag.Bool("update", false, "rewrite the golden records")

var recTime = time.Date(2025, 3, 1, 12, 0, 0, 123456789, time.UTC)

// sampleRollout sets every field of a stored rollout, at every depth.
func sampleRollout(t *testing.T) *applier.Rollout {
	cfg, err := rollout.ParseConfig([]byte(`
concurrency: 5
failure_budget: 10%
apply_sets:
  - name: canaries
    hosts: ["fozzie.example.com"]
    command: ["list-canaries"]
    canaries: auto
    batch: 1
    max_failures: 0
    then: promote
  - name: all
    hosts: ["*"]
    batch: 50%
    max_failures: 1
`))
	if err != nil {
		t.Fatal(err)
	}
	plan, err := rollout.NewPlan(cfg, rollout.Input{
		Hosts:  []string{"fozzie.example.com", "statler.example.com", "waldorf.example.com", "animal.example.com"},
		Listed: map[string][]string{"canaries": {"fozzie.example.com"}},
		Groups: map[string][]string{"b1:g1": {"statler.example.com"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	plan.Unplanned, plan.Unreachable = []string{"gonzo.example.com"}, []string{"b1:g2"}
	plan.Stages[0].Allowance, plan.Budget = 1, 2
	p := rollout.NewProgress(&plan)
	p.Hosts["fozzie.example.com"] = rollout.HostProgress{
		State: rollout.Failed, RunID: "apply-1", Attempts: 1, Reason: "unapproved changes: File[/etc/motd]",
		StartedAt: recTime, FinishedAt: recTime, Acknowledged: true,
	}
	for i := range p.Sets {
		p.Sets[i] = rollout.SetProgress{Started: recTime, Ended: recTime, SoakUntil: recTime, Promoted: true, PromotedBy: "gonzo", PromotedAt: recTime, Passed: true}
	}
	p.Halted = &rollout.Halt{Cause: rollout.CauseSet, Set: "canaries", Reason: "1 failed", Hosts: []string{"fozzie.example.com"}, By: "gonzo", At: recTime}
	p.Halts, p.Resumes, p.Completed = 1, 1, recTime
	return &applier.Rollout{
		Schema: protocol.SchemaVersion, ID: "r1", Branch: "main",
		Target: protocol.Commit{SHA: "b1", Parents: []string{"a1"}, Author: "Kermit", AuthorEmail: "kermit@example.com", Time: recTime, Subject: "motd", Message: "motd\n"},
		Base:   "a1",
		Range:  []protocol.ApprovedCommit{{SHA: "b1", Groups: map[string]string{"g1": "d1"}}},
		From:   map[string]string{"fozzie.example.com": "a1"}, Plan: plan, Progress: p,
		Results:    map[string]applier.HostResult{"fozzie.example.com": {Outcome: protocol.OutcomeDone, Missing: "approved changes that did not happen: File[/a]", PuppetSeconds: 2.5}},
		NotPlanned: map[string]string{"gonzo.example.com": "no apply set names it"},
		Announced:  map[string]bool{"apply.started:r1": true},
		State:      applier.StateCancelled, CancelledBy: "gonzo", Created: recTime, Updated: recTime,
	}
}

func records(t *testing.T) map[string]any {
	return map[string]any{
		"rollout": sampleRollout(t),
		"lock":    &applier.Lock{Schema: protocol.SchemaVersion, Host: "statler.example.com", Reason: "migration", By: "gonzo", At: recTime},
	}
}

// Every field of the applier's stored records has a msgpack tag, every
// sample sets every field, and the wire format is pinned (rerun with
// -update only when old records still decode).
func TestRecords(t *testing.T) {
	for name, v := range records(t) {
		t.Run(name, func(t *testing.T) {
			for _, f := range bustest.Untagged(v) {
				t.Errorf("%s has no msgpack tag", f)
			}
			for _, f := range bustest.Unset(v) {
				t.Errorf("sample leaves %s unset", f)
			}
			bustest.Golden(t, filepath.Join("testdata", "records", name+".msgpack.hex"), *update, v)
		})
	}
}
