package agent_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/balcony-dev/balcony/pkg/agent"
	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/bus/bustest"
	"github.com/balcony-dev/balcony/pkg/gitrepo"
	"github.com/balcony-dev/balcony/pkg/gitrepo/gittest"
	"github.com/balcony-dev/balcony/pkg/hostinfo"
	"github.com/balcony-dev/balcony/pkg/metrics/metricstest"
	"github.com/balcony-dev/balcony/pkg/protocol"
	"github.com/balcony-dev/balcony/pkg/puppet"
)

const applyHost = "fozzie.example.com"

// motdSite manages the motd under the host's balcony_root with content.
func motdSite(content string) string {
	return fmt.Sprintf(`node default {
  file { "${facts['balcony_root']}/etc/motd":
    content => %q,
  }
}
`, content)
}

// fakeApprovals is the approver as the agent asks it: an answer per
// commit, or an error for all.
type fakeApprovals struct {
	mu      sync.Mutex
	answers map[string]*agent.Approval
	err     error
	asked   int
}

func (f *fakeApprovals) Approval(_ context.Context, sha string) (*agent.Approval, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked++
	if f.err != nil {
		return nil, f.err
	}
	if a, ok := f.answers[sha]; ok {
		c := *a
		c.Groups = maps.Clone(a.Groups)
		return &c, nil
	}
	return nil, fmt.Errorf("approver: no noop of commit %s", sha)
}

func (f *fakeApprovals) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.asked
}

func (f *fakeApprovals) set(sha string, a *agent.Approval) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a.SHA = sha
	f.answers[sha] = a
}

func (f *fakeApprovals) fail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

// countingFetcher counts the fetches of the agent's mirror asked for
// revisions; caughtUp is closed once the agent's update at start (with no
// revision) has returned.
type countingFetcher struct {
	repo     *gitrepo.Repo
	fetches  atomic.Int32
	once     sync.Once
	caughtUp chan struct{}
}

func (c *countingFetcher) Update(ctx context.Context, revisions ...string) error {
	if len(revisions) == 0 {
		defer c.once.Do(func() { close(c.caughtUp) })
	} else {
		c.fetches.Add(1)
	}
	return c.repo.Fetch(ctx)
}

// applyRig is an agent on a real bus with a real mirror of a real
// repository (c0 ← c1 ← c2 on main, the motd changing each time), a fake
// approver, and Puppet's lock files in a directory of the test's.
type applyRig struct {
	srv, client *bus.Conn
	hosts       jetstream.KeyValue
	f           *gittest.Fixture
	mirror      *gitrepo.Repo
	fetcher     *countingFetcher
	c0, c1, c2  string
	approvals   *fakeApprovals
	// disabledLock and runLock are the paths given to the agent; they
	// do not exist until a test writes them.
	disabledLock, runLock string
	results               *collector[protocol.RunResult]
	refused               *collector[protocol.Event]
	opts                  agent.Options
}

func newApplyRig(t *testing.T) *applyRig {
	t.Helper()
	srv := bustest.Start(t)
	r := &applyRig{srv: srv, client: bustest.Client(t, srv), f: gittest.New(t), approvals: &fakeApprovals{answers: map[string]*agent.Approval{}}}
	r.c0 = r.f.Commit("motd", map[string]string{"manifests/site.pp": motdSite("hello\n")})
	r.c1 = r.f.Commit("motd: say more", map[string]string{"manifests/site.pp": motdSite("hello, applied\n")})
	r.c2 = r.f.Commit("motd: again", map[string]string{"manifests/site.pp": motdSite("third\n")})
	r.f.Push("main")
	mirror, err := gitrepo.Mirror(t.Context(), r.f.Bare, filepath.Join(t.TempDir(), "code.git"))
	if err != nil {
		t.Fatal(err)
	}
	r.mirror, r.fetcher = mirror, &countingFetcher{repo: mirror, caughtUp: make(chan struct{})}
	if r.hosts, err = srv.JS.KeyValue(t.Context(), hostinfo.Bucket); err != nil {
		t.Fatal(err)
	}
	locks := t.TempDir()
	r.disabledLock, r.runLock = filepath.Join(locks, "agent_disabled.lock"), filepath.Join(locks, "agent_catalog_run.lock")
	reportSubject, _ := bus.ReportSubject(protocol.KindApply, applyHost)
	r.results = subscribeResults(t, srv, reportSubject)
	r.refused = subscribeEvents(t, srv, bus.EventPrefix+"run.refused."+applyHost)
	r.opts = agent.Options{
		Host: applyHost, StateDir: t.TempDir(), Heartbeat: time.Hour, Poll: time.Hour, Log: zerolog.Nop(),
		Code: r.fetcher, Commits: mirror, Approvals: r.approvals,
		PuppetDisabledLock: r.disabledLock, PuppetRunLock: r.runLock,
	}
	return r
}

// start runs the agent with exec until the test ends.
func (r *applyRig) start(t *testing.T, exec agent.Executor) *agent.Agent {
	t.Helper()
	o := r.opts
	o.Executor = exec
	ctx, cancel := context.WithCancel(context.Background())
	a, err := agent.New(ctx, r.client, o)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("agent Run: %v", err)
		}
	})
	if o.Code == r.fetcher {
		// A test that pushes counts on the agent's start-up fetch
		// being over.
		select {
		case <-r.fetcher.caughtUp:
		case err := <-done:
			t.Fatalf("agent Run ended before its start-up fetch: %v", err)
		}
	}
	return a
}

// baseline records sha as the host's last applied revision, as the
// applier does.
func (r *applyRig) baseline(t *testing.T, sha string) {
	t.Helper()
	if _, err := hostinfo.Update(t.Context(), r.hosts, applyHost, func(info *protocol.HostInfo, _ bool) error {
		info.LastApplied = sha
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// approve makes the approver say sha is approved with groups.
func (r *applyRig) approve(sha string, groups map[string]string) {
	r.approvals.set(sha, &agent.Approval{Ready: true, Approved: true, Groups: groups})
}

// apply asks the host to apply shas from from, each with the groups the
// approver shows now, and returns the answer.
func (r *applyRig) apply(t *testing.T, id, from string, shas ...string) protocol.RunResult {
	t.Helper()
	req := protocol.RunRequest{ID: id, Host: applyHost, Kind: protocol.KindApply, From: from, RequestedBy: "applier"}
	for _, sha := range shas {
		ac := protocol.ApprovedCommit{SHA: sha, Groups: map[string]string{}}
		if a, ok := r.approvals.answers[sha]; ok {
			ac.Groups = maps.Clone(a.Groups)
		}
		req.Approved = append(req.Approved, ac)
	}
	if len(shas) > 0 {
		req.Revision = shas[len(shas)-1]
	}
	return r.send(t, req)
}

func (r *applyRig) send(t *testing.T, req protocol.RunRequest) protocol.RunResult {
	t.Helper()
	subject, err := bus.RunSubject(protocol.KindApply, applyHost)
	if err != nil {
		t.Fatal(err)
	}
	publishRun(t, r.srv, subject, req)
	var got protocol.RunResult
	eventually(t, 30*time.Second, "the answer to "+req.ID, func() bool {
		for _, res := range r.results.all() {
			if res.RunID == req.ID {
				got = res
				return true
			}
		}
		return false
	})
	if got.Kind != protocol.KindApply || got.Host != applyHost || got.Revision != req.Revision || got.Report == nil {
		t.Fatalf("answer %+v, want an apply of %s on %s with a report", got, req.Revision, applyHost)
	}
	return got
}

// wantOutcome fails unless res has outcome and an error containing want.
func wantOutcome(t *testing.T, res protocol.RunResult, outcome, want string) {
	t.Helper()
	if res.Outcome != outcome || !res.Report.Failed || len(res.Report.Errors) != 1 || !strings.Contains(res.Report.Errors[0], want) {
		t.Errorf("run %s: outcome %s, errors %q; want %s saying %q", res.RunID, res.Outcome, res.Report.Errors, outcome, want)
	}
}

// TestApplyRefused: an apply whose range does not verify, or that the
// approver does not confirm exactly, is refused with why, announced on
// balcony.event.run.refused.<host>, and Puppet never runs.
func TestApplyRefused(t *testing.T) {
	r := newApplyRig(t)
	log := newExecLog()
	r.start(t, fakeExecutor{host: applyHost, log: log})
	g1 := map[string]string{"g1": "d1"}
	r.approve(r.c1, g1)
	r.approve(r.c2, map[string]string{"g2": "d2", "g3": "d3"})

	// No baseline: the heartbeat's record has no last applied revision.
	wantOutcome(t, r.apply(t, "no-baseline", r.c0, r.c1), protocol.OutcomeRefused, "no baseline recorded: run `applier baseline`")
	r.baseline(t, r.c0)

	type tc struct {
		name  string
		req   func() protocol.RunRequest
		setup func()
		want  string
	}
	req := func(from string, shas ...string) func() protocol.RunRequest {
		return func() protocol.RunRequest {
			q := protocol.RunRequest{Host: applyHost, Kind: protocol.KindApply, From: from}
			for _, sha := range shas {
				q.Approved = append(q.Approved, protocol.ApprovedCommit{SHA: sha, Groups: maps.Clone(r.approvals.answers[sha].Groups)})
			}
			q.Revision = shas[len(shas)-1]
			return q
		}
	}
	cases := []tc{
		{name: "from is not the last applied", req: req(r.c1, r.c2),
			want: fmt.Sprintf("the apply starts from %q but this host's last applied revision is %s", r.c1, r.c0)},
		{name: "no approved commits", req: func() protocol.RunRequest {
			return protocol.RunRequest{Host: applyHost, Kind: protocol.KindApply, From: r.c0, Revision: r.c1}
		}, want: "names no approved commits"},
		{name: "approved commits end elsewhere", req: func() protocol.RunRequest {
			q := req(r.c0, r.c1)()
			q.Revision = r.c2
			return q
		}, want: fmt.Sprintf("the apply's approved commits end at %s, not at its revision %s", r.c1, r.c2)},
		{name: "a commit left out of the chain", req: req(r.c0, r.c2),
			want: fmt.Sprintf("the first parent of %s is %s, not %s", r.c2, r.c1, r.c0)},
		{name: "commits out of order", req: req(r.c0, r.c2, r.c1),
			want: fmt.Sprintf("the first parent of %s is %s, not %s", r.c2, r.c1, r.c0)},
		{name: "an abbreviated sha", req: func() protocol.RunRequest {
			q := req(r.c0, r.c1)()
			q.Approved[0].SHA, q.Revision = r.c1[:12], r.c1[:12]
			return q
		}, want: "which is not a full sha"},
		{name: "not approved", req: req(r.c0, r.c1, r.c2), setup: func() {
			r.approvals.set(r.c2, &agent.Approval{Ready: true, Groups: map[string]string{"g2": "d2", "g3": "d3"}, HeldBack: []string{"the noop failed on statler.example.com"}})
		}, want: fmt.Sprintf("commit %s is not approved as the apply says: the approver does not show it approved: the noop failed on statler.example.com", protocol.Short(r.c2))},
		{name: "noop not finished", req: req(r.c0, r.c1), setup: func() {
			r.approvals.set(r.c1, &agent.Approval{Groups: g1})
		}, want: "its noop has not finished"},
		{name: "a digest differs", req: req(r.c0, r.c1), setup: func() {
			r.approve(r.c1, map[string]string{"g1": "d1-reviewed-again"})
		}, want: fmt.Sprintf("commit %s is not approved as the apply says: group g1 has digest d1 in the apply but d1-reviewed-again at the approver", protocol.Short(r.c1))},
		{name: "a group missing from the apply", req: func() protocol.RunRequest {
			q := req(r.c0, r.c1, r.c2)()
			delete(q.Approved[1].Groups, "g3")
			return q
		}, want: "group g3 is not in the apply"},
		{name: "a group the commit does not have", req: func() protocol.RunRequest {
			q := req(r.c0, r.c1)()
			q.Approved[0].Groups["g9"] = "d9"
			return q
		}, want: "group g9 is not a group of the commit at the approver"},
		{name: "approver unreachable", req: req(r.c0, r.c1), setup: func() {
			r.approvals.fail(errors.New("no approver is running (nobody answers balcony.approver.status)"))
		}, want: "could not confirm the approvals: commit " + protocol.Short(r.c1) + ": no approver is running"},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r.approve(r.c1, g1)
			r.approve(r.c2, map[string]string{"g2": "d2", "g3": "d3"})
			r.approvals.fail(nil)
			q := c.req()
			if c.setup != nil {
				c.setup()
			}
			q.ID = fmt.Sprintf("refused-%d", i)
			res := r.send(t, q)
			wantOutcome(t, res, protocol.OutcomeRefused, c.want)
			eventually(t, 10*time.Second, "the refusal announced", func() bool {
				for _, ev := range r.refused.all() {
					if ev.Data["run_id"] == q.ID {
						if ev.Type != "run.refused" || ev.Host != applyHost || ev.Commit != q.Revision || !strings.Contains(ev.Text, c.want[:min(len(c.want), 40)]) {
							t.Errorf("refusal event %+v", ev)
						}
						return true
					}
				}
				return false
			})
		})
	}
	if n := log.len(); n != 0 {
		t.Errorf("the executor ran %d times for refused applies", n)
	}
	if n := r.fetcher.fetches.Load(); n != 0 {
		t.Errorf("fetched %d times though every commit was known", n)
	}
}

// TestApplySkipped: a host whose Puppet is disabled or running is skipped
// with why, before anything else is checked (this one has no baseline),
// and its Puppet is not waited for.
func TestApplySkipped(t *testing.T) {
	r := newApplyRig(t)
	log := newExecLog()
	reg := prometheus.NewRegistry()
	r.opts.Registerer = reg
	r.start(t, fakeExecutor{host: applyHost, log: log})
	writeHostFile(t, r.disabledLock, `{"disabled_message":"kernel upgrade, kim"}`)
	writeHostFile(t, r.runLock, fmt.Sprintf("%d\n", os.Getpid()))
	wantOutcome(t, r.apply(t, "disabled", r.c0, r.c1), protocol.OutcomeSkipped, "puppet is disabled on this host: kernel upgrade, kim")

	if err := os.Remove(r.disabledLock); err != nil {
		t.Fatal(err)
	}
	wantOutcome(t, r.apply(t, "running", r.c0, r.c1), protocol.OutcomeSkipped, fmt.Sprintf("puppet is running (pid %d)", os.Getpid()))

	// A lock left by a process that is gone is no lock: the apply goes
	// on to its checks.
	writeHostFile(t, r.runLock, "999999999\n")
	wantOutcome(t, r.apply(t, "stale-lock", r.c0, r.c1), protocol.OutcomeRefused, "no baseline recorded")
	if n := log.len(); n != 0 {
		t.Errorf("the executor ran %d times", n)
	}
	if n := r.refused.len(); n != 1 {
		t.Errorf("%d refusals announced, want the one of the stale lock's run", n)
	}
	// Counted once the result is published: the test may see it first.
	eventually(t, 10*time.Second, "the runs counted by outcome", func() bool {
		return metricstest.Value(t, reg, "balcony_agent_runs_total", "kind", protocol.KindApply, "outcome", protocol.OutcomeSkipped) == 2 &&
			metricstest.Value(t, reg, "balcony_agent_runs_total", "kind", protocol.KindApply, "outcome", protocol.OutcomeRefused) == 1
	})
	if got := metricstest.Value(t, reg, "balcony_agent_puppet_seconds"); got != 0 {
		t.Errorf("balcony_agent_puppet_seconds counts %v runs, want none: Puppet never ran", got)
	}
}

// TestApplyFetchesOnce: a commit pushed after the agent's last fetch is
// fetched, once, and the verified apply is executed as an apply; a commit
// that no fetch brings is refused.
func TestApplyFetchesOnce(t *testing.T) {
	r := newApplyRig(t)
	log := newExecLog()
	r.start(t, fakeExecutor{host: applyHost, log: log})
	r.baseline(t, r.c0)
	c3 := r.f.Commit("motd: a fourth", map[string]string{"manifests/site.pp": motdSite("fourth\n")})
	r.f.Push("main")
	for _, sha := range []string{r.c1, r.c2, c3} {
		r.approve(sha, map[string]string{"g-" + sha[:4]: "d"})
	}
	res := r.apply(t, "fetch", r.c0, r.c1, r.c2, c3)
	if res.Outcome != protocol.OutcomeDone {
		t.Fatalf("outcome %s, errors %q", res.Outcome, res.Report.Errors)
	}
	if n := r.fetcher.fetches.Load(); n != 1 {
		t.Errorf("fetched %d times, want 1", n)
	}
	if counts, _ := log.snapshot(); counts["fetch"] != 1 {
		t.Errorf("executed %v, want the apply once", counts)
	}

	unknown := strings.Repeat("ab", 20)
	r.approve(unknown, map[string]string{})
	wantOutcome(t, r.apply(t, "unknown", r.c0, r.c1, unknown), protocol.OutcomeRefused, "commit "+unknown+" cannot be verified in this host's copy of the code")
	if n := r.fetcher.fetches.Load(); n != 2 {
		t.Errorf("fetched %d times in all, want one more for the unknown commit", n)
	}
}

// TestHeartbeatKeepsAppliedRevision: the heartbeat writes with
// compare-and-set: an applied revision written between its read and its
// write (here, by the hook between them) survives, with the applier's
// other fields; the heartbeat reports Puppet's disable message, and its
// absence once Puppet is enabled again.
func TestHeartbeatKeepsAppliedRevision(t *testing.T) {
	r := newApplyRig(t)
	r.opts.Heartbeat = 20 * time.Millisecond
	writeHostFile(t, r.disabledLock, `{"disabled_message":"kernel upgrade, kim"}`)
	appliedAt := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	o := r.opts
	o.Executor = fakeExecutor{host: applyHost, log: newExecLog()}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := agent.New(ctx, r.client, o)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	var once sync.Once
	agent.SetBeforeHeartbeatWrite(a, func() {
		once.Do(func() { // the applier records an apply, on its own connection
			if _, err := hostinfo.Update(context.Background(), r.hosts, applyHost, func(info *protocol.HostInfo, _ bool) error {
				info.LastApplied, info.AppliedAt, info.AppliedRun = r.c1, appliedAt, "apply-7"
				return nil
			}); err != nil {
				t.Errorf("the applier's write: %v", err)
			}
		})
	})
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("agent Run: %v", err)
		}
	}()

	var info *protocol.HostInfo
	eventually(t, 10*time.Second, "a heartbeat written", func() bool {
		info, err = hostinfo.Get(t.Context(), r.hosts, applyHost)
		return err == nil && info != nil && !info.Seen.IsZero()
	})
	if info.LastApplied != r.c1 || !info.AppliedAt.Equal(appliedAt) || info.AppliedRun != "apply-7" {
		t.Errorf("after the heartbeat: last applied %q at %v by %q; want %s at %v by apply-7", info.LastApplied, info.AppliedAt, info.AppliedRun, r.c1, appliedAt)
	}
	if info.PuppetDisabled != "kernel upgrade, kim" || info.Version == "" {
		t.Errorf("after the heartbeat: puppet disabled %q, version %q", info.PuppetDisabled, info.Version)
	}

	if err := os.Remove(r.disabledLock); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "a heartbeat saying puppet is enabled", func() bool {
		info, err = hostinfo.Get(t.Context(), r.hosts, applyHost)
		return err == nil && info != nil && info.PuppetDisabled == ""
	})
	if info.LastApplied != r.c1 || info.AppliedRun != "apply-7" {
		t.Errorf("later heartbeats dropped the applied revision: %+v", info)
	}
}

// TestApplyRunsRealPuppet: a verified apply runs real Puppet without
// noop, changes the file under the simulated root, and is reported as a
// noop is (the content the file was given included).
func TestApplyRunsRealPuppet(t *testing.T) {
	requireRealPuppet(t)
	r := newApplyRig(t)
	root := filepath.Join(t.TempDir(), "root")
	motd := filepath.Join(root, "etc", "motd")
	writeHostFile(t, motd, "hello\n") // the state c0 left
	runner, err := puppet.NewRunner(puppet.Options{
		Certname: applyHost, Env: []string{"FACTER_balcony_root=" + root},
		Timeout: 2 * time.Minute, ScratchDir: t.TempDir(), LockFile: r.runLock,
	})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	r.opts.Registerer = reg
	r.start(t, &agent.PuppetExecutor{
		Host: applyHost, Checkouts: gitrepo.NewCheckoutCache(r.mirror, filepath.Join(t.TempDir(), "checkouts"), 2),
		Puppet: runner, Code: agent.GitCode{Mirror: r.mirror}, Root: root,
	})
	r.baseline(t, r.c0)
	r.approve(r.c1, map[string]string{"g1": "d1"})

	res := r.apply(t, "apply-1", r.c0, r.c1)
	if res.Outcome != protocol.OutcomeDone || res.Report.Failed {
		t.Fatalf("outcome %s, failed %v, errors %q", res.Outcome, res.Report.Failed, res.Report.Errors)
	}
	if data, err := os.ReadFile(motd); err != nil || string(data) != "hello, applied\n" {
		t.Errorf("motd after the apply: %q, %v; want c1's content", data, err)
	}
	rep := res.Report
	if rep.Noop || len(rep.Resources) != 1 {
		t.Fatalf("report noop=%v with resources %+v; want a real run changing the motd", rep.Noop, rep.Resources)
	}
	rs := rep.Resources[0]
	if rs.ID != "File[/etc/motd]" || len(rs.Events) != 1 || rs.Events[0].Property != "content" || rs.Events[0].Status != "success" {
		t.Errorf("resource %s with events %+v; want File[/etc/motd] with one successful content change", rs.ID, rs.Events)
	}
	if !strings.Contains(rs.Diff, "+hello, applied") {
		t.Errorf("diff %q does not show the new content", rs.Diff)
	}
	if n := r.approvals.count(); n != 1 {
		t.Errorf("the approver was asked %d times, want once for the one commit", n)
	}
	if got := metricstest.Value(t, reg, "balcony_agent_puppet_seconds", "kind", protocol.KindApply, "outcome", protocol.OutcomeDone); got != 1 {
		t.Errorf("balcony_agent_puppet_seconds{kind=apply,outcome=done} counts %v runs, want 1", got)
	}
}
