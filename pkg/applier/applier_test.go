package applier_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/balcony-dev/balcony/pkg/applier"
	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/bus/bustest"
	"github.com/balcony-dev/balcony/pkg/credentials"
	"github.com/balcony-dev/balcony/pkg/credentials/credtest"
	"github.com/balcony-dev/balcony/pkg/hostinfo"
	"github.com/balcony-dev/balcony/pkg/metrics/metricstest"
	"github.com/balcony-dev/balcony/pkg/protocol"
	"github.com/balcony-dev/balcony/pkg/rollout"
)

// The newest approved commit is applied on the canary, waits for a
// promote, then on the rest; each host's last applied revision is
// recorded; an unapproved commit after it is not applied.
func TestCanaryPromoteAll(t *testing.T) {
	conn := bustest.Start(t)
	f := newFleet(t, conn)
	reg := prometheus.NewRegistry()
	startApplierWith(t, bustest.Client(t, conn), conn, canaryThenAll(t), reg, revB)

	st := waitStep(t, conn, rollout.StepPromote)
	if got := metricstest.Value(t, reg, "balcony_applier_rollout_active"); got != 1 {
		t.Errorf("balcony_applier_rollout_active at the gate = %v, want 1", got)
	}
	if st.Rollout.Target.SHA != revB {
		t.Fatalf("target %s, want the approved %s (the next commit is not approved)", st.Rollout.Target.SHA, revB)
	}
	if got := states(st); len(got) != 1 || got["fozzie.example.com"] != "done" {
		t.Fatalf("at the gate, hosts: %v; want only the canary, done", got)
	}
	if got := lastApplied(t, conn, "statler.example.com"); got != revA {
		t.Fatalf("statler applied %s before the promote", got)
	}
	if _, err := (applier.Client{NC: conn.NC}).Do(context.Background(), "promote", "gonzo", applier.VerbRequest{}); err != nil {
		t.Fatal(err)
	}
	st = waitStep(t, conn, rollout.StepComplete)
	for _, h := range hostNames {
		if got := lastApplied(t, conn, h); got != revB {
			t.Errorf("%s: last applied %s, want %s", h, got, revB)
		}
		if s := st.Rollout.Progress.Host(h); s.State != rollout.Done {
			t.Errorf("%s: %s %s", h, s.State, s.Reason)
		}
	}
	for id, n := range f.runs() {
		if n != 1 || !strings.HasPrefix(id, "apply:"+revB) {
			t.Errorf("run %s asked %d times", id, n)
		}
	}
	if len(f.runs()) != len(hostNames) {
		t.Errorf("runs asked: %v, want one per host", f.runs())
	}
	for _, m := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"balcony_runs_asked_total", []string{"kind", "apply"}, float64(len(hostNames))},
		{"balcony_runs_answered_total", []string{"kind", "apply", "outcome", protocol.OutcomeDone}, float64(len(hostNames))},
		{"balcony_applier_hosts_total", []string{"state", "done"}, float64(len(hostNames))},
		{"balcony_applier_rollouts_total", nil, 1},
		{"balcony_applier_rollout_seconds", []string{"outcome", "complete"}, 1},
		{"balcony_applier_halts_total", nil, 0},
		{"balcony_applier_rollout_active", nil, 0},
	} {
		if got := metricstest.Value(t, reg, m.name, m.labels...); got != m.want {
			t.Errorf("%s%v = %v, want %v", m.name, m.labels, got, m.want)
		}
	}
}

// An applier stopped while the canary applies, and another started in its
// place, waits for the same run: the host is asked once.
func TestRestartAsksNoHostTwice(t *testing.T) {
	conn := bustest.Start(t)
	f := newFleet(t, conn)
	f.holdRuns("fozzie.example.com")
	stop := startApplier(t, conn, canaryThenAll(t), revB)
	bustest.Eventually(t, time.Minute, "the canary's run", func() bool { return len(f.runs()) == 1 })
	stop()
	startApplier(t, conn, canaryThenAll(t), revB)
	// The new applier is up when it answers; it has read the rollout.
	waitStep(t, conn, rollout.StepWait)
	f.release()
	waitStep(t, conn, rollout.StepPromote)
	if _, err := (applier.Client{NC: conn.NC}).Do(context.Background(), "promote", "gonzo", applier.VerbRequest{}); err != nil {
		t.Fatal(err)
	}
	waitStep(t, conn, rollout.StepComplete)
	for id, n := range f.runs() {
		if n != 1 {
			t.Errorf("run %s asked %d times", id, n)
		}
	}
	if len(f.runs()) != len(hostNames) {
		t.Errorf("runs asked: %v, want one per host", f.runs())
	}
}

// A canary whose apply makes a change its noop did not show fails, and
// the rollout halts naming the resource, before any other host applies.
func TestUnreviewedChangeHalts(t *testing.T) {
	conn := bustest.Start(t)
	f := newFleet(t, conn)
	f.setAnswer(func(req protocol.RunRequest) *protocol.RunResult {
		rep := motd("success")
		rep.Resources[0].Events[0].Previous = "{md5}edited-by-hand"
		return applied(req, rep)
	})
	startApplier(t, conn, canaryThenAll(t), revB)
	st := waitStep(t, conn, rollout.StepHalted)
	if st.Step.Halt == nil || !strings.Contains(st.Step.Halt.Reason, "File[/etc/motd]") {
		t.Fatalf("halt: %+v; want the reason to name File[/etc/motd]", st.Step.Halt)
	}
	if len(f.runs()) != 1 {
		t.Fatalf("runs asked: %v; want the canary's only", f.runs())
	}
	// The host is at the target whatever reconciliation says.
	if got := lastApplied(t, conn, "fozzie.example.com"); got != revB {
		t.Errorf("fozzie's last applied %s, want %s", got, revB)
	}
	if !strings.Contains(applier.StatusText(st), "halted: ") {
		t.Errorf("status text does not say it halted:\n%s", applier.StatusText(st))
	}
}

// A failed apply on the canary halts the rollout.
func TestFailedCanaryHalts(t *testing.T) {
	conn := bustest.Start(t)
	f := newFleet(t, conn)
	f.setAnswer(func(req protocol.RunRequest) *protocol.RunResult {
		rep := motd("failure")
		rep.Resources[0].Failed, rep.Failed = true, true
		return applied(req, rep)
	})
	reg := prometheus.NewRegistry()
	startApplierWith(t, bustest.Client(t, conn), conn, canaryThenAll(t), reg, revB)
	st := waitStep(t, conn, rollout.StepHalted)
	if !strings.Contains(st.Step.Halt.Reason, "fozzie.example.com") {
		t.Errorf("halt reason %q does not name the canary", st.Step.Halt.Reason)
	}
	if got := metricstest.Value(t, reg, "balcony_applier_rollout_halted"); got != 1 {
		t.Errorf("balcony_applier_rollout_halted = %v, want 1", got)
	}
	if got := metricstest.Value(t, reg, "balcony_applier_halts_total"); got != 1 {
		t.Errorf("balcony_applier_halts_total = %v, want 1", got)
	}
	if got := metricstest.Value(t, reg, "balcony_applier_hosts_total", "state", "failed"); got != 1 {
		t.Errorf("balcony_applier_hosts_total{state=failed} = %v, want the canary", got)
	}
	if len(f.runs()) != 1 {
		t.Fatalf("runs asked: %v; want the canary's only", f.runs())
	}
	// A failed run is not an applied revision.
	if got := lastApplied(t, conn, "fozzie.example.com"); got != revA {
		t.Errorf("fozzie's last applied %s, want still %s", got, revA)
	}
}

// A locked host and a host whose Puppet is disabled are skipped, each
// with its reason; the others apply.
func TestLockedAndDisabledHostsSkipped(t *testing.T) {
	conn := bustest.Start(t)
	f := newFleet(t, conn)
	ctx := context.Background()
	kv, err := conn.JS.KeyValue(ctx, hostinfo.Bucket)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := hostinfo.Update(ctx, kv, "waldorf.example.com", func(info *protocol.HostInfo, _ bool) error {
		info.PuppetDisabled = "kernel upgrade"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	cfg, err := rollout.ParseConfig([]byte("apply_sets:\n  - name: all\n    hosts: ['*']\n"))
	if err != nil {
		t.Fatal(err)
	}
	// Locked before the rollout starts: nothing is approved yet.
	stop := startApplier(t, conn, applier.Config{Config: cfg})
	c := applier.Client{NC: conn.NC}
	if _, err := c.Do(ctx, "lock", "gonzo", applier.VerbRequest{Host: "statler.example.com", Reason: "database migration"}); err != nil {
		t.Fatal(err)
	}
	if st := status(t, conn); st.Rollout != nil || len(st.Locks) != 1 {
		t.Fatalf("before any approval: rollout %v, locks %v", st.Rollout, st.Locks)
	}
	plan, err := c.Plan(ctx)
	if err != nil || plan.Blocked == "" || !strings.Contains(plan.Text, "not approved") {
		t.Fatalf("plan with nothing approved: %+v, %v", plan, err)
	}
	stop()
	startApplier(t, conn, applier.Config{Config: cfg}, revB)
	st := waitStep(t, conn, rollout.StepComplete)
	got := states(st)
	if got["fozzie.example.com"] != "done" ||
		!strings.HasPrefix(got["statler.example.com"], "skipped: locked by gonzo: database migration") ||
		!strings.HasPrefix(got["waldorf.example.com"], "skipped: puppet is disabled on the host: kernel upgrade") {
		t.Errorf("hosts: %v", got)
	}
	if len(f.runs()) != 1 {
		t.Errorf("runs asked: %v, want fozzie's only", f.runs())
	}
}

// The applier does all of the above under its own permissions (the
// applier role), its fleet under the agents', its operator under a
// person's: no permission violation anywhere.
func TestRolloutUnderPermissions(t *testing.T) {
	b := credtest.Start(t, credentials.Spec{Hosts: hostNames, People: []string{"gonzo"}}, nil)
	conns := map[string]*bus.Conn{}
	for _, h := range hostNames {
		conns[h] = b.Connect(t, credentials.Agent, h)
	}
	f := newFleetWith(t, func(h string) *bus.Conn { return conns[h] })
	gonzo := b.Connect(t, credentials.Person, "gonzo")
	startApplierOn(t, b.Connect(t, credentials.Applier, ""), gonzo, canaryThenAll(t), revB)
	c := applier.Client{NC: gonzo.NC}
	ctx := context.Background()
	if _, err := c.Do(ctx, "lock", "gonzo", applier.VerbRequest{Host: "waldorf.example.com", Reason: "disk check"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Do(ctx, "promote", "statler", applier.VerbRequest{}); err == nil || !strings.Contains(err.Error(), "Permissions Violation") {
		t.Errorf("gonzo speaking as statler: %v, want a permissions violation", err)
	}
	waitStep(t, gonzo, rollout.StepPromote)
	if _, err := c.Do(ctx, "promote", "gonzo", applier.VerbRequest{}); err != nil {
		t.Fatal(err)
	}
	st := waitStep(t, gonzo, rollout.StepComplete)
	got := states(st)
	if got["fozzie.example.com"] != "done" || got["statler.example.com"] != "done" || !strings.HasPrefix(got["waldorf.example.com"], "skipped: locked") {
		t.Errorf("hosts: %v", got)
	}
	if len(f.runs()) != 2 {
		t.Errorf("runs: %v", f.runs())
	}
	for _, v := range b.Violations() {
		if !strings.Contains(v, "balcony.applier.promote.statler") {
			t.Errorf("permission violation: %s", v)
		}
	}
}

// An operator halts a rollout while its canary applies: the canary ends,
// nothing else starts, the halt and the resume are announced with who did
// them, and the resumed rollout completes once promoted.
func TestOperatorHaltAndResume(t *testing.T) {
	conn := bustest.Start(t)
	events := bustest.Events(t, conn)
	f := newFleet(t, conn)
	f.holdRuns("fozzie.example.com")
	startApplier(t, conn, canaryThenAll(t), revB)
	bustest.Eventually(t, time.Minute, "the canary's run", func() bool { return len(f.runs()) == 1 })
	c := applier.Client{NC: conn.NC}
	ctx := context.Background()
	if _, err := c.Do(ctx, "halt", "gonzo", applier.VerbRequest{Reason: "the band is late"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Do(ctx, "halt", "gonzo", applier.VerbRequest{}); err == nil {
		t.Error("halting a halted rollout: no error")
	}
	f.release()
	st := waitStep(t, conn, rollout.StepHalted)
	bustest.Eventually(t, time.Minute, "the canary's end", func() bool {
		st = status(t, conn)
		return st.Rollout.Progress.Host("fozzie.example.com").State == rollout.Done
	})
	if st.Step.Kind != rollout.StepHalted || !strings.Contains(st.Step.Halt.Reason, "the band is late") {
		t.Fatalf("after the canary ended: %+v", st.Step)
	}
	if _, err := c.Do(ctx, "resume", "gonzo", applier.VerbRequest{}); err != nil {
		t.Fatal(err)
	}
	waitStep(t, conn, rollout.StepPromote)
	if _, err := c.Do(ctx, "promote", "gonzo", applier.VerbRequest{}); err != nil {
		t.Fatal(err)
	}
	waitStep(t, conn, rollout.StepComplete)
	for _, want := range []struct{ typ, text string }{
		{"apply.halted", "halted by gonzo: the band is late"},
		{"apply.resumed", "resumed by gonzo"},
		{"apply.promoted", ""},
		{"apply.complete", ""},
	} {
		bustest.Eventually(t, time.Minute, want.typ, func() bool {
			evs := events.Of(want.typ, revB)
			return len(evs) == 1 && strings.Contains(evs[0].Text, want.text)
		})
	}
	if len(f.runs()) != len(hostNames) {
		t.Errorf("runs: %v", f.runs())
	}
}
