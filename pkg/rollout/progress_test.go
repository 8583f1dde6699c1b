package rollout_test

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/balcony-dev/balcony/pkg/rollout"
)

// TestTransitionErrors: the applier branches on the sentinels, so each
// refusal wraps its own.
func TestTransitionErrors(t *testing.T) {
	plan := mustPlan(t, canaryThenAll, fleet)
	p := rollout.NewProgress(plan)
	check := func(what string, err, want error) {
		t.Helper()
		if !errors.Is(err, want) {
			t.Errorf("%s: %v, want %v", what, err, want)
		}
	}
	check("start an unknown host", p.Start(plan, "nobody", "r", t0), rollout.ErrUnknownHost)
	check("finish an unknown host", p.Finish(plan, "nobody", "r", rollout.Done, "", t0), rollout.ErrUnknownHost)
	check("skip an unknown host", p.Skip(plan, "nobody", "", t0), rollout.ErrUnknownHost)
	check("finish a pending host", p.Finish(plan, "c1", "", rollout.Done, "", t0), rollout.ErrHostState)
	check("promote while applying", p.Promote(plan, "", "kermit", t0), rollout.ErrNoGate)
	check("resume a running rollout", p.Resume(plan, t0), rollout.ErrNotHalted)
	if err := p.Start(plan, "c1", "r1", t0); err != nil {
		t.Fatal(err)
	}
	if err := p.Start(plan, "c1", "r1", t0); err != nil || p.Host("c1").Attempts != 1 {
		t.Errorf("starting a host again with its run id: %v, attempts %d", err, p.Host("c1").Attempts)
	}
	check("finish an older run", p.Finish(plan, "c1", "r0", rollout.Done, "", t0), rollout.ErrStaleRun)
	check("skip a running host", p.Skip(plan, "c1", "", t0), rollout.ErrHostState)
	if err := p.Finish(plan, "c1", "r1", rollout.Done, "", t0); err != nil {
		t.Fatal(err)
	}
	check("start a done host", p.Start(plan, "c1", "r2", t0), rollout.ErrHostState)
	check("promote another set", p.Promote(plan, "all", "kermit", t0), rollout.ErrNoGate)
	if err := p.Halt("stop", "gonzo", t0); err != nil {
		t.Fatal(err)
	}
	check("halt twice", p.Halt("stop", "gonzo", t0), rollout.ErrHalted)
	check("start while halted", p.Start(plan, "a1", "r", t0), rollout.ErrHalted)
	check("promote while halted", p.Promote(plan, "", "kermit", t0), rollout.ErrHalted)
	if err := p.Resume(plan, t0); err != nil {
		t.Fatal(err)
	}
	if err := p.Promote(plan, "canaries", "kermit", t0); err != nil {
		t.Fatal(err)
	}
	if err := p.Promote(plan, "canaries", "kermit", t0); err != nil {
		t.Errorf("promote twice: %v", err) // the gate opens at the next Next
	}
	if s := p.Next(plan, t0); s.Kind != rollout.StepStart || s.Set != "all" {
		t.Fatalf("step %s", s)
	}
	for _, h := range plan.Stages[1].Hosts() {
		if err := p.Skip(plan, h, "locked", t0); err != nil {
			t.Fatal(err)
		}
	}
	// Every host has ended and every gate is open, but Next has not
	// recorded it: no gate to promote.
	check("promote past the last set", p.Promote(plan, "", "kermit", t0), rollout.ErrNoGate)
	if s := p.Next(plan, t0); s.Kind != rollout.StepComplete {
		t.Fatalf("step %s", s)
	}
	for what, err := range map[string]error{
		"start": p.Start(plan, "a1", "r", t0), "promote": p.Promote(plan, "", "k", t0),
		"halt": p.Halt("x", "k", t0), "resume": p.Resume(plan, t0),
	} {
		check(what+" a complete rollout", err, rollout.ErrComplete)
	}
}

func TestCounts(t *testing.T) {
	plan := mustPlan(t, canaryThenAll, fleet)
	p := rollout.NewProgress(plan)
	for _, tr := range []struct {
		host  string
		state rollout.HostState
	}{{"c1", rollout.Done}, {"a1", rollout.Failed}, {"a2", rollout.Running}, {"a3", rollout.Skipped}} {
		if err := p.Start(plan, tr.host, "r", t0); err != nil {
			t.Fatal(err)
		}
		if tr.state != rollout.Running {
			if err := p.Finish(plan, tr.host, "r", tr.state, "", t0); err != nil {
				t.Fatal(err)
			}
		}
	}
	perStage, total := p.Counts(plan)
	want := []rollout.Counts{{Done: 1}, {Failed: 1, Running: 1, Skipped: 1, Pending: 2}}
	if d := cmp.Diff(want, perStage); d != "" {
		t.Errorf("per stage (-want +got):\n%s", d)
	}
	if got := total.String(); got != "1 done, 1 failed, 1 skipped, 1 running, 2 pending" {
		t.Errorf("total %q", got)
	}
}
