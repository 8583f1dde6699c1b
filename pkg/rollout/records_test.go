package rollout_test

import (
	"flag"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/bus/bustest"
	"github.com/balcony-dev/balcony/pkg/protocol"
	"github.com/balcony-dev/balcony/pkg/rollout"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// stored is how the applier may keep a rollout: the plan and the progress
// inside its own versioned record. The golden file pins the wire format of
// both.
type stored struct {
	Schema   int              `msgpack:"schema"`
	Plan     rollout.Plan     `msgpack:"plan"`
	Progress rollout.Progress `msgpack:"progress"`
}

// sampleStored sets every field (one entry per map: msgpack writes maps in
// no fixed order).
func sampleStored() *stored {
	at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	cfg := rollout.Config{
		Concurrency: 50, FailureBudget: rollout.Percent(5),
		ApplySets: []rollout.SetConfig{{
			Name: "canaries", Hosts: []string{"canary-*"}, Command: []string{"list-canaries"}, Canaries: rollout.CanariesAuto,
			Batch: rollout.Count(1), MaxFailures: rollout.Percent(2.5), Then: rollout.SoakGate(10 * time.Minute),
		}},
	}
	return &stored{
		Schema: protocol.SchemaVersion,
		Plan: rollout.Plan{
			Config: cfg,
			Stages: []rollout.Stage{{
				Set: "canaries", Batches: [][]string{{"canary-1.example.com"}}, BatchSize: 1, Allowance: 1,
				Gate: rollout.PromoteGate(), Canaries: true,
				Picks: []rollout.Pick{{Host: "web-1.example.com", From: "all", Groups: []string{"0123456789abcdef"}}},
			}},
			Hosts: 2, Budget: 1, Unplanned: []string{"lonely.example.com"}, Unreachable: []string{"fedcba9876543210"},
		},
		Progress: rollout.Progress{
			Hosts: map[string]rollout.HostProgress{"canary-1.example.com": {
				State: rollout.Failed, RunID: "apply-1", Attempts: 2, Reason: "File[/etc/motd]: changed, nobody approved it",
				StartedAt: at, FinishedAt: at, Acknowledged: true,
			}},
			Sets: []rollout.SetProgress{{Started: at, Ended: at, SoakUntil: at, Promoted: true, PromotedBy: "kermit", PromotedAt: at, Passed: true}},
			Halted: &rollout.Halt{Cause: rollout.CauseSet, Set: "canaries", Reason: "set canaries: 1 host failed", Hosts: []string{"canary-1.example.com"},
				By: "gonzo", At: at},
			Halts: 2, Resumes: 1, Completed: at,
		},
	}
}

func TestRecordTagged(t *testing.T) {
	for _, f := range bustest.Untagged(sampleStored()) {
		t.Errorf("%s has no msgpack tag", f)
	}
	for _, f := range bustest.Unset(sampleStored()) {
		t.Errorf("the sample leaves %s unset", f)
	}
}

func TestRecordGolden(t *testing.T) {
	bustest.Golden(t, filepath.Join("testdata", "rollout.msgpack.hex"), *update, sampleStored())
	// Golden ignores unexported fields; amounts and gates keep their text
	// in one, so compare them too.
	data, err := bus.Marshal(sampleStored())
	if err != nil {
		t.Fatal(err)
	}
	var back stored
	if err := bus.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(*sampleStored(), back, cmp.AllowUnexported(rollout.Amount{}, rollout.Gate{})); d != "" {
		t.Errorf("round trip (-sample +decoded):\n%s", d)
	}
}

// TestRestart: a progress stored and read back between any two steps gives
// the same steps as one kept in memory, so a restarted applier goes on
// where it was.
func TestRestart(t *testing.T) {
	plan := mustPlan(t, canaryThenAll, fleet)
	mem := rollout.NewProgress(plan)
	disk := rollout.NewProgress(plan)
	reload := func() {
		data, err := bus.Marshal(&stored{Schema: protocol.SchemaVersion, Plan: *plan, Progress: disk})
		if err != nil {
			t.Fatal(err)
		}
		var back stored
		if err := bus.Unmarshal(data, &back); err != nil {
			t.Fatal(err)
		}
		disk = back.Progress
		*plan = back.Plan
	}
	now := t0
	for i := 0; i < 50; i++ {
		reload()
		a, b := mem.Next(plan, now), disk.Next(plan, now)
		if d := cmp.Diff(a, b); d != "" {
			t.Fatalf("step %d differs after a reload (-memory +reloaded):\n%s", i, d)
		}
		switch a.Kind {
		case rollout.StepComplete:
			return
		case rollout.StepPromote:
			for _, p := range []*rollout.Progress{&mem, &disk} {
				if err := p.Promote(plan, a.Set, "kermit", now); err != nil {
					t.Fatal(err)
				}
			}
		case rollout.StepStart:
			for _, h := range a.Start {
				for _, p := range []*rollout.Progress{&mem, &disk} {
					if err := p.Start(plan, h, "run-"+h, now); err != nil {
						t.Fatal(err)
					}
				}
			}
			reload()
			for _, h := range a.Start {
				for _, p := range []*rollout.Progress{&mem, &disk} {
					if err := p.Finish(plan, h, "run-"+h, rollout.Done, "", now); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
		now = now.Add(time.Minute)
	}
	t.Fatal("the rollout did not complete in 50 steps")
}
