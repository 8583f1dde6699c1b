package e2e

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/balcony-dev/balcony/pkg/applier"
	"github.com/balcony-dev/balcony/pkg/approver"
	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/bus/bustest"
	"github.com/balcony-dev/balcony/pkg/credentials"
	"github.com/balcony-dev/balcony/pkg/hostinfo"
	"github.com/balcony-dev/balcony/pkg/nooper"
	"github.com/balcony-dev/balcony/pkg/owners"
	"github.com/balcony-dev/balcony/pkg/protocol"
	"github.com/balcony-dev/balcony/pkg/rollout"
)

// applyConfig is the applier's rollout in these tests: fozzie alone as the
// canary, a promote, then the others one at a time, halting at the first
// failure of either set.
const applyConfig = `apply_sets:
  - name: canaries
    hosts: ["fozzie.example.com"]
    batch: 1
    max_failures: 0
    then: promote
  - name: all
    hosts: ["*"]
    batch: 1
    max_failures: 0
`

// Where each host's motd line lives under its root.
const motdFile = "etc/balcony/motd-welcome"

// applyRig is a fleet with an approver and an applier, and the test's
// views of them.
type applyRig struct {
	f       *fleet
	applier *proc
	cli     applier.Client
	appr    approver.Client
	events  *events
	hosts   jetstream.KeyValue
}

// startApplier starts the applier on the fleet's repository with
// applyConfig, polling every second for an approved commit. A host has
// half an hour to answer an apply: Puppet takes seconds here, even queued
// behind noops on a loaded machine.
func (f *fleet) startApplier(t *testing.T) *proc {
	t.Helper()
	cfg := filepath.Join(f.dir, "applier.yaml")
	if err := os.WriteFile(cfg, []byte(applyConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	addr, args := withMetrics(t, slices.Concat([]string{"applier"}, f.busArgs(credentials.Applier, ""), []string{"--repo", f.bare,
		"--state-dir", filepath.Join(f.dir, "applier"), "--config", cfg,
		"--run-timeout", "30m", "--poll", "1s", "--log-level", "debug"}))
	p := start(t, f.dir, "applier", args...)
	p.metrics = addr
	return p
}

func newApplyRig(t *testing.T) *applyRig {
	t.Helper()
	// The canary and statler (whose seat file only it gets) have no way
	// to the repository: their code comes from the bus alone.
	f := newFleetWith(t, muppets, nil, []string{"fozzie.example.com", "statler.example.com"})
	r := &applyRig{f: f, cli: applier.Client{NC: f.conn.NC}, appr: approver.Client{NC: f.conn.NC}}
	r.events = watchEvents(t, f.watcher, "balcony.event.apply.>")
	f.startApprover(t)
	r.applier = f.startApplier(t)
	kv, err := f.conn.JS.KeyValue(context.Background(), hostinfo.Bucket)
	if err != nil {
		t.Fatal(err)
	}
	r.hosts = kv
	r.waitApplier(t)
	return r
}

// waitApplier waits for the applier to answer on its service: it mirrors
// the repository first.
func (r *applyRig) waitApplier(t *testing.T) {
	t.Helper()
	eventually(t, time.Minute, "the applier's service", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := r.cli.Status(ctx)
		return err == nil
	})
}

// cli runs `applier args…` against the fleet's bus and returns its output.
func (r *applyRig) cliRun(t *testing.T, args ...string) string {
	t.Helper()
	return run(t, r.f.dir, filepath.Join(binaries(t), "applier"), slices.Concat(args, r.f.busArgs(credentials.Person, "ops"))...)
}

// commit commits edit's changes to the work clone as Kermit (who owns
// nothing he could approve) and pushes it through the hook.
func (r *applyRig) commit(t *testing.T, msg string, edit func(work string)) string {
	t.Helper()
	edit(r.f.work)
	cmd := exec.Command("git", "-C", r.f.work, "commit", "-qam", msg)
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=Kermit", "GIT_AUTHOR_EMAIL=kermit@example.com",
		"GIT_COMMITTER_NAME=Kermit", "GIT_COMMITTER_EMAIL=kermit@example.com")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git commit: %v\n%s", err, out)
	}
	run(t, r.f.work, "git", "push", "-q", "origin", "main")
	return strings.TrimSpace(run(t, r.f.work, "git", "rev-parse", "HEAD"))
}

// replaceIn replaces old with new in the work clone's file rel.
func replaceIn(t *testing.T, work, rel, old, new string) {
	t.Helper()
	path := filepath.Join(work, rel)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), old) {
		t.Fatalf("%s lacks %q:\n%s", rel, old, data)
	}
	if err := os.WriteFile(path, []byte(strings.Replace(string(data), old, new, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}

// approve signs off every group of sha as each owner the sample repository
// has (Kermit wrote the commits, so his approval would not count) and
// checks that the approver says the commit is approved.
func (r *applyRig) approve(t *testing.T, sha string) {
	t.Helper()
	ctx := context.Background()
	for _, who := range []string{"ops", "fozzie", "statler", "waldorf"} {
		if _, err := r.appr.Approve(ctx, sha, who, owners.SourceCLI, nil); err != nil {
			t.Fatalf("approve %s as %s: %v", protocol.Short(sha), who, err)
		}
	}
	st, err := r.appr.Status(ctx, sha)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Approved {
		t.Fatalf("%s not approved by every owner: %+v", protocol.Short(sha), st.Status)
	}
}

// waitStatus waits, while work shows on the bus, for the applier's status
// to satisfy cond, and returns it.
func (r *applyRig) waitStatus(t *testing.T, what string, cond func(*applier.StatusReply) bool) *applier.StatusReply {
	t.Helper()
	var st *applier.StatusReply
	bustest.WhileMoving(t, r.f.conn, what, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		got, err := r.cli.Status(ctx)
		if err != nil || !cond(got) {
			return false
		}
		st = got
		return true
	}, "RUNS", "REPORTS", "KV_rollout", "KV_noops", "KV_reports")
	return st
}

// waitStep waits for the rollout of target to reach step kind.
func (r *applyRig) waitStep(t *testing.T, target string, kind rollout.StepKind) *applier.StatusReply {
	t.Helper()
	return r.waitStatus(t, "the rollout of "+protocol.Short(target)+" to reach "+string(kind), func(st *applier.StatusReply) bool {
		return st.Rollout != nil && st.Rollout.Target.SHA == target && st.Step != nil && st.Step.Kind == kind
	})
}

// hostInfo reads host's record.
func (r *applyRig) hostInfo(t *testing.T, host string) protocol.HostInfo {
	t.Helper()
	info, err := hostinfo.Get(context.Background(), r.hosts, host)
	if err != nil || info == nil {
		t.Fatalf("the record of %s: %v", host, err)
	}
	return *info
}

// event finds the apply event of type typ about host (any host when "")
// for target.
func (r *applyRig) event(typ, host, target string) *protocol.Event {
	return r.events.find(func(ev protocol.Event) bool {
		return ev.Type == typ && ev.Commit == target && (host == "" || ev.Host == host)
	})
}

// waitEvent waits for the apply event of type typ about host.
func (r *applyRig) waitEvent(t *testing.T, typ, host, target string) *protocol.Event {
	t.Helper()
	var ev *protocol.Event
	eventually(t, 10*time.Second, typ+" of "+host, func() bool {
		ev = r.event(typ, host, target)
		return ev != nil
	})
	return ev
}

// applyReports lists host's apply reports in REPORTS.
func applyReports(t *testing.T, f *fleet, host string) []protocol.RunResult {
	t.Helper()
	ctx := context.Background()
	stream, err := f.conn.JS.Stream(ctx, "REPORTS")
	if err != nil {
		t.Fatal(err)
	}
	subject, _ := bus.ReportSubject(protocol.KindApply, host)
	var out []protocol.RunResult
	for seq := uint64(1); ; {
		msg, err := stream.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(subject))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		var res protocol.RunResult
		if err := bus.Unmarshal(msg.Data, &res); err != nil {
			t.Fatal(err)
		}
		out = append(out, res)
		seq = msg.Sequence + 1
	}
}

// readFile reads rel under host's root ("" when it does not exist).
func (r *applyRig) readFile(t *testing.T, host, rel string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(r.f.root(host), rel))
	if errors.Is(err, os.ErrNotExist) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// checkReviewFromBus checks the reviews of the first two pushes, nooped
// by agents of which two had their code from the bus alone: they are what
// agents with git access make of them (TestApprovals's checkPipeline), and
// the motd change of the bus's hosts and of waldorf (git) is one group,
// which identical changes only are.
func checkReviewFromBus(t *testing.T, f *fleet, motd, seat string) {
	t.Helper()
	g := onlyGroup(t, f.waitReady(t, motd), "File[/etc/balcony/motd-welcome]")
	if diff := cmp.Diff(muppets, g.Hosts); diff != "" {
		t.Errorf("motd change hosts, bus and git together (-want +got):\n%s", diff)
	}
	if !strings.Contains(g.Resource.Diff, "+Welcome to the Muppet Theater, where the show goes on.") ||
		g.Resource.DefineType != "Motd::Line[welcome]" || g.Resource.File != "modules/motd/manifests/line.pp" {
		t.Errorf("motd group from the bus's code: %+v", g.Resource)
	}
	g = onlyGroup(t, f.waitReady(t, seat), "File[/etc/balcony/seat]")
	if diff := cmp.Diff([]string{"statler.example.com"}, g.Hosts); diff != "" {
		t.Errorf("seat change hosts (-want +got):\n%s", diff)
	}
	if !strings.Contains(g.Resource.Diff, "+left box") {
		t.Errorf("the new seat file's content from the bus's code is not shown:\n%s", g.Resource.Diff)
	}
	for _, sha := range []string{motd, seat} {
		c, err := nooper.Load(t.Context(), f.conn.JS, sha)
		if err != nil {
			t.Fatal(err)
		}
		if len(c.Result.Unanswered) > 0 || len(c.Result.Errors) > 0 {
			t.Errorf("%s: unanswered %v, errors %+v", sha, c.Result.Unanswered, c.Result.Errors)
		}
	}
}

// TestApplyRollout closes the loop on one fleet of three agents with real
// Puppet, one rollout after the other (each needs the state the one before
// left): an approved commit applied on the canary, a promote, then on the
// rest with the applier killed mid-set; an unapproved commit never applied
// and refused by an agent asked directly; the next commit's noop against
// the applied state; a locked host and one with Puppet disabled skipped,
// and a host changed by hand after its noop halting that rollout by
// reconciliation (one rollout for the three: each rollout costs a commit's
// noops and applies); a failing canary halting the next with nothing
// applied elsewhere.
func TestApplyRollout(t *testing.T) {
	r := newApplyRig(t)
	f := r.f
	base := strings.TrimSpace(run(t, f.work, "git", "rev-parse", "HEAD"))

	out := r.cliRun(t, "baseline", base, "--as", "ops")
	if !strings.Contains(out, "of 3 hosts") {
		t.Fatalf("baseline: %s", out)
	}
	for _, h := range muppets {
		if got := r.hostInfo(t, h).LastApplied; got != base {
			t.Fatalf("%s's last applied revision after the baseline: %q, want %s", h, got, base)
		}
	}

	motd := f.push(t, 1) // every host's motd line
	seat := f.push(t, 2) // a new file on statler only
	checkReviewFromBus(t, f, motd, seat)

	// The daemons' metrics endpoints, scraped before and after the work.
	before := f.scrapeAll(t)
	for h, m := range before.agents {
		fetched, bytes := m.sum("balcony_agent_code_fetches_total", `outcome="fetched"`), m.sum("balcony_agent_code_bytes_total")
		if f.codeFromBus[h] != (fetched > 0 && bytes > 0) {
			t.Errorf("%s (code from the bus: %v) fetched %v revisions, %v bytes from the bus", h, f.codeFromBus[h], fetched, bytes)
		}
		if bad := m.sum("balcony_agent_code_fetches_total", `outcome="unverified"`); bad != 0 {
			t.Errorf("%s refused the code of %v revisions", h, bad)
		}
	}
	began := time.Now()
	for _, step := range []struct {
		name string
		run  func()
	}{
		{"apply an approved commit, canary first, the applier killed mid-set", func() { applyApproved(t, r, motd, seat) }},
		{"refuse an unapproved commit", func() { refuseUnapproved(t, r, motd, seat) }},
		{"noop the next commit against the applied state", func() { noopAfterApply(t, r, seat) }},
		{"skip a locked host and one with Puppet disabled; halt on a change nobody reviewed", func() { skipAndReconcile(t, r, motd, seat) }},
		{"halt on a failing canary", func() { failingCanary(t, r) }},
	} {
		step.run()
		t.Logf("%s: done at %s", step.name, time.Since(began).Round(time.Second))
	}
	moved(t, before, f.scrapeAll(t))
	// The applier was restarted (killed) in the first step: its counters
	// count from then on.
	ap := scrape(t, r.applier)
	for _, c := range []struct {
		name   string
		labels []string
	}{
		{"balcony_runs_asked_total", []string{`kind="apply"`}},
		{"balcony_runs_answered_total", []string{`kind="apply"`}},
		{"balcony_applier_rollouts_total", nil},
		{"balcony_applier_halts_total", nil},
		{"balcony_applier_hosts_total", []string{`state="done"`}},
		{"balcony_applier_rollout_seconds_count", []string{`outcome="complete"`}},
	} {
		if ap.sum(c.name, c.labels...) == 0 {
			t.Errorf("the applier's %s%v did not move", c.name, c.labels)
		}
	}
	if got := ap.sum("balcony_applier_rollout_halted"); got != 1 {
		t.Errorf("balcony_applier_rollout_halted after a failing canary: %v, want 1", got)
	}
}

// applyApproved: motd is applied on the canary, waits at the promote gate,
// then on the others, one at a time; the applier is killed with SIGKILL
// while a host of the second set applies, and the restarted applier ends
// the rollout without applying any host twice. seat, not approved, is
// not applied.
func applyApproved(t *testing.T, r *applyRig, motd, seat string) {
	f := r.f
	before := r.readFile(t, "statler.example.com", motdFile)
	r.approve(t, motd)

	st := r.waitStep(t, motd, rollout.StepPromote)
	if h := st.Rollout.Progress.Host("fozzie.example.com"); h.State != rollout.Done {
		t.Fatalf("the canary at the gate: %+v", h)
	}
	r.waitEvent(t, "apply.host.done", "fozzie.example.com", motd)
	for _, typ := range []string{"apply.started", "apply.set.started", "apply.set.done"} {
		r.waitEvent(t, typ, "", motd)
	}
	if got := r.readFile(t, "fozzie.example.com", motdFile); !strings.Contains(got, "where the show goes on") {
		t.Errorf("the canary's motd after its apply: %q", got)
	}
	for _, h := range []string{"statler.example.com", "waldorf.example.com"} {
		if got := r.readFile(t, h, motdFile); got != before {
			t.Errorf("%s's motd changed before the promote: %q", h, got)
		}
		if hp := st.Rollout.Progress.Host(h); hp.State != rollout.Pending {
			t.Errorf("%s before the promote: %+v", h, hp)
		}
	}
	if out := r.cliRun(t, "status"); !strings.Contains(out, protocol.Short(motd)) || !strings.Contains(out, "waiting for `applier promote`") {
		t.Errorf("applier status at the gate lacks the target or the gate:\n%s", out)
	}

	out := r.cliRun(t, "promote", "--as", "ops")
	if !strings.Contains(out, "promoted") {
		t.Fatalf("promote: %s", out)
	}
	r.waitEvent(t, "apply.promoted", "", motd)

	// Kill the applier while a host of the second set is applying.
	st = r.waitStatus(t, "a host of the second set to run", func(st *applier.StatusReply) bool {
		for _, h := range []string{"statler.example.com", "waldorf.example.com"} {
			if st.Rollout != nil && st.Rollout.Progress.Host(h).State == rollout.Running {
				return true
			}
		}
		return false
	})
	r.applier.kill9()
	t.Logf("killed the applier with %v running", st.Step.Running)
	r.applier = f.startApplier(t)

	st = r.waitStep(t, motd, rollout.StepComplete)
	r.waitEvent(t, "apply.complete", "", motd)
	for _, h := range muppets {
		hp := st.Rollout.Progress.Host(h)
		if hp.State != rollout.Done || hp.Attempts != 1 {
			t.Errorf("%s at the end of the rollout: %+v, want done at the first attempt", h, hp)
		}
		if got := r.readFile(t, h, motdFile); !strings.Contains(got, "where the show goes on") {
			t.Errorf("%s's motd after the rollout: %q", h, got)
		}
		info := r.hostInfo(t, h)
		if info.LastApplied != motd || info.AppliedRun != hp.RunID || info.AppliedAt.IsZero() {
			t.Errorf("%s's record: last applied %s by run %q at %s, want %s by %s", h, info.LastApplied, info.AppliedRun, info.AppliedAt, motd, hp.RunID)
		}
		// No host applied twice: one apply report, of the run the
		// rollout recorded, and one start of it in the agent's log.
		reports := applyReports(t, f, h)
		if len(reports) != 1 || reports[0].RunID != hp.RunID || reports[0].Outcome != protocol.OutcomeDone {
			var ids []string
			for _, rep := range reports {
				ids = append(ids, rep.RunID+" "+rep.Outcome)
			}
			t.Errorf("%s's apply reports %v, want one, done, of %s", h, ids, hp.RunID)
		}
		logText, err := os.ReadFile(f.agents[h].log)
		if err != nil {
			t.Fatal(err)
		}
		starts := 0
		for _, line := range strings.Split(string(logText), "\n") {
			if strings.Contains(line, "run started") && strings.Contains(line, hp.RunID) {
				starts++
			}
		}
		if starts != 1 {
			t.Errorf("%s's agent started run %s %d times, want once", h, hp.RunID, starts)
		}
	}
	if got := r.readFile(t, "statler.example.com", "etc/balcony/seat"); got != "" {
		t.Errorf("the unapproved seat file exists on statler: %q", got)
	}
}

// refuseUnapproved: the applier's plan says seat is blocked, and statler's
// agent asked directly to apply it refuses.
func refuseUnapproved(t *testing.T, r *applyRig, motd, seat string) {
	f := r.f
	ctx := context.Background()
	plan, err := r.cli.Plan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if plan.Plan != nil || !strings.Contains(plan.Blocked, protocol.Short(seat)) || !strings.Contains(plan.Blocked, "not approved") {
		t.Errorf("the plan with %s unapproved: blocked %q, plan %v", protocol.Short(seat), plan.Blocked, plan.Plan != nil)
	}
	if out := r.cliRun(t, "plan"); !strings.Contains(out, "nothing to apply") {
		t.Errorf("applier plan with nothing approved:\n%s", out)
	}

	// Ask statler's agent directly, as the applier would, with the groups
	// of seat as they are now: the approver does not show them approved.
	st, err := r.appr.Status(ctx, seat)
	if err != nil {
		t.Fatal(err)
	}
	ac := protocol.ApprovedCommit{SHA: seat, Groups: map[string]string{}}
	for _, g := range st.Groups {
		ac.Groups[g.ID] = g.Digest
	}
	host := "statler.example.com"
	refusals := watchEvents(t, f.watcher, "balcony.event.run.refused."+host)
	now := time.Now().UTC()
	req := protocol.RunRequest{
		Schema: protocol.SchemaVersion, ID: "apply:" + seat + ":" + host + ":1:e2e-direct", Kind: protocol.KindApply,
		Host: host, Revision: seat, Deadline: now.Add(30 * time.Minute), RequestedBy: "e2e", Time: now,
		From: motd, Approved: []protocol.ApprovedCommit{ac},
	}
	subject, err := bus.RunSubject(protocol.KindApply, host)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.conn.Publish(ctx, subject, req.ID, req); err != nil {
		t.Fatal(err)
	}
	var answer *protocol.RunResult
	bustest.WhileMoving(t, f.conn, "statler's answer to the direct apply", func() bool {
		for _, res := range applyReports(t, f, host) {
			if res.RunID == req.ID {
				answer = &res
				return true
			}
		}
		return false
	}, "RUNS", "REPORTS", "KV_noops", "KV_reports")
	if answer.Outcome != protocol.OutcomeRefused {
		t.Errorf("the direct apply of an unapproved commit: outcome %q, want %q (%+v)", answer.Outcome, protocol.OutcomeRefused, answer.Report)
	} else if errs := strings.Join(answer.Report.Errors, "; "); !strings.Contains(errs, "not approved") {
		t.Errorf("the refusal does not say the commit is not approved: %s", errs)
	}
	eventually(t, 10*time.Second, "run.refused of the direct apply", func() bool {
		return refusals.find(func(ev protocol.Event) bool { return ev.Commit == seat && ev.Data["run_id"] == req.ID }) != nil
	})
	if got := r.readFile(t, host, "etc/balcony/seat"); got != "" {
		t.Errorf("the refused apply created the seat file: %q", got)
	}
	if info := r.hostInfo(t, host); info.LastApplied != motd {
		t.Errorf("statler's last applied revision after the refused apply: %s", info.LastApplied)
	}
}

// noopAfterApply: seat was nooped before motd was applied; the nooper
// noops it again on each host whose last applied revision moved, against
// the applied state, and its delta is still only the seat.
func noopAfterApply(t *testing.T, r *applyRig, seat string) {
	f := r.f
	noops := nooper.Client{NC: f.conn.NC}
	for _, h := range muppets {
		applied := r.hostInfo(t, h).AppliedAt
		var rep *protocol.RunResult
		bustest.WhileMoving(t, f.conn, "a noop of "+protocol.Short(seat)+" on "+h+" after its apply", func() bool {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			got, err := noops.Report(ctx, seat, h)
			if err != nil || !got.FinishedAt.After(applied) {
				return false
			}
			rep = got
			return true
		}, "RUNS", "REPORTS", "KV_noops", "KV_reports")
		for _, res := range rep.Report.Resources {
			if strings.Contains(res.ID, "motd-welcome") {
				t.Errorf("%s's noop of %s after motd was applied still shows %s: %+v", h, protocol.Short(seat), res.ID, res.Events)
			}
		}
	}
	c := f.waitReady(t, seat)
	g := onlyGroup(t, c, "File[/etc/balcony/seat]")
	if len(g.Hosts) != 1 || g.Hosts[0] != "statler.example.com" {
		t.Errorf("the seat's group after the re-noop: hosts %v", g.Hosts)
	}
}

// skipAndReconcile: with Puppet disabled on fozzie and statler locked,
// the rollout of seat skips both and says why; waldorf's /etc/issue,
// edited by hand after its noop, is put back by its apply, a change nobody
// reviewed, and the rollout halts naming it. The rollout is then
// cancelled, the lock and Puppet's disable lifted.
func skipAndReconcile(t *testing.T, r *applyRig, motd, seat string) {
	f := r.f
	canary, locked, hand := "fozzie.example.com", "statler.example.com", "waldorf.example.com"
	out := r.cliRun(t, "lock", locked, "--reason", "dress rehearsal", "--as", "ops")
	if !strings.Contains(out, "locked") {
		t.Fatalf("lock: %s", out)
	}
	lockFile := f.puppetDisabledLock(canary)
	if err := os.WriteFile(lockFile, []byte(`{"disabled_message": "the curtain is down"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "fozzie's record to say Puppet is disabled", func() bool {
		return r.hostInfo(t, canary).PuppetDisabled == "the curtain is down"
	})
	if err := os.WriteFile(filepath.Join(f.root(hand), "etc", "issue"), []byte("Muppet Theater, under repair\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	r.approve(t, seat)
	st := r.waitStep(t, seat, rollout.StepPromote)
	if h := st.Rollout.Progress.Host(canary); h.State != rollout.Skipped || !strings.Contains(h.Reason, "the curtain is down") {
		t.Errorf("the canary with Puppet disabled: %+v", h)
	}
	if ev := r.waitEvent(t, "apply.host.skipped", canary, seat); !strings.Contains(ev.Text, "the curtain is down") {
		t.Errorf("the skipped canary's event: %s", ev.Text)
	}
	r.cliRun(t, "promote", "--as", "ops")

	st = r.waitStep(t, seat, rollout.StepHalted)
	if h := st.Rollout.Progress.Host(locked); h.State != rollout.Skipped || !strings.Contains(h.Reason, "dress rehearsal") || !strings.Contains(h.Reason, "ops") {
		t.Errorf("the locked host: %+v", h)
	}
	if ev := r.waitEvent(t, "apply.host.skipped", locked, seat); !strings.Contains(ev.Text, "dress rehearsal") {
		t.Errorf("the locked host's event: %s", ev.Text)
	}
	h := st.Rollout.Progress.Host(hand)
	if h.State != rollout.Failed || !strings.Contains(h.Reason, "etc/issue") {
		t.Errorf("%s after its apply reverted a hand change: %+v", hand, h)
	}
	if halt := st.Step.Halt; halt == nil || !strings.Contains(halt.Reason, hand) || !strings.Contains(halt.Reason, "etc/issue") {
		t.Errorf("the halt does not name %s and its /etc/issue: %+v", hand, halt)
	}
	if ev := r.waitEvent(t, "apply.halted", "", seat); !strings.Contains(ev.Text, hand) {
		t.Errorf("the halt's event: %s", ev.Text)
	}
	if ev := r.waitEvent(t, "apply.host.failed", hand, seat); !strings.Contains(ev.Text, "etc/issue") {
		t.Errorf("the failed host's event: %s", ev.Text)
	}
	if got := r.readFile(t, locked, "etc/balcony/seat"); got != "" {
		t.Errorf("the locked statler got its seat: %q", got)
	}
	for _, h := range []string{canary, locked} {
		if info := r.hostInfo(t, h); info.LastApplied != motd {
			t.Errorf("the skipped %s's last applied revision: %s, want %s", h, protocol.Short(info.LastApplied), protocol.Short(motd))
		}
	}
	if out := r.cliRun(t, "status"); !strings.Contains(out, "halted") || !strings.Contains(out, "dress rehearsal") {
		t.Errorf("applier status of the halted rollout lacks the halt or the lock:\n%s", out)
	}

	out = r.cliRun(t, "cancel", "--as", "ops")
	if !strings.Contains(out, "cancelled") {
		t.Fatalf("cancel: %s", out)
	}
	r.cliRun(t, "unlock", locked, "--as", "ops")
	if err := os.Remove(lockFile); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "fozzie's record to say Puppet is enabled", func() bool {
		return r.hostInfo(t, canary).PuppetDisabled == ""
	})
}

// failingCanary: a commit whose apply fails on the canary (an exec that
// exits 1, which a noop only announces) halts the rollout before anything
// is applied elsewhere.
func failingCanary(t *testing.T, r *applyRig) {
	f := r.f
	before := map[string]protocol.HostInfo{}
	motds := map[string]string{}
	for _, h := range []string{"statler.example.com", "waldorf.example.com"} {
		before[h], motds[h] = r.hostInfo(t, h), r.readFile(t, h, motdFile)
	}
	fails := r.commit(t, "fozzie: take a curtain call", func(work string) {
		replaceIn(t, work, "modules/base/manifests/init.pp", "where the show goes on.", "where the show must go on.")
		replaceIn(t, work, "manifests/nodes/fozzie.pp", "  include base\n", "  include base\n\n  exec { 'curtain-call':\n    command => '/bin/false',\n  }\n")
	})
	f.waitReady(t, fails)
	r.approve(t, fails)
	st := r.waitStep(t, fails, rollout.StepHalted)
	canary := st.Rollout.Progress.Host("fozzie.example.com")
	if canary.State != rollout.Failed {
		t.Errorf("the canary whose exec fails: %+v", canary)
	}
	if halt := st.Step.Halt; halt == nil || halt.Set != "canaries" || !strings.Contains(halt.Reason, "fozzie.example.com") {
		t.Errorf("the halt: %+v", halt)
	}
	r.waitEvent(t, "apply.host.failed", "fozzie.example.com", fails)
	for h, info := range before {
		if hp := st.Rollout.Progress.Host(h); hp.State != rollout.Pending || hp.RunID != "" {
			t.Errorf("%s after the canary failed: %+v", h, hp)
		}
		if got := r.readFile(t, h, motdFile); got != motds[h] {
			t.Errorf("%s's motd changed after the canary failed: %q", h, got)
		}
		if now := r.hostInfo(t, h); now.LastApplied != info.LastApplied {
			t.Errorf("%s's last applied revision moved from %s to %s", h, info.LastApplied, now.LastApplied)
		}
		for _, res := range applyReports(t, f, h) {
			if res.Revision == fails {
				t.Errorf("%s was asked to apply %s: %s", h, protocol.Short(fails), res.RunID)
			}
		}
	}
}
