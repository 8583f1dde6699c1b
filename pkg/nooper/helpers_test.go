package nooper_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/bus/bustest"
	"github.com/balcony-dev/balcony/pkg/gitrepo"
	"github.com/balcony-dev/balcony/pkg/gitrepo/gittest"
	"github.com/balcony-dev/balcony/pkg/nooper"
	"github.com/balcony-dev/balcony/pkg/protocol"
	"github.com/balcony-dev/balcony/pkg/report"
)

// eventually polls cond until it holds or the timeout passes.
var eventually = bustest.Eventually

// Revisions of the repository newCode builds, G ← P ← A ← B on main: P is
// the parent of the push, A its first commit, B the second. gittest makes
// the same shas on every run.
const (
	revG = "d7ae4743d9346623f7b67fc16da6561bbae8c73b"
	revP = "2ea3933f84853ca675b63ed5a49a68a58fc6607a"
	revA = "f4227dca0f02397b18202a3cf109cabfcb833edf"
	revB = "25782cf81505da69df366280bcd5b8a315b0b4d2"
)

// newCode builds the Puppet repository of the tests: G, P, A and B
// committed on main and pushed to the bare repository.
func newCode(t *testing.T) *gittest.Fixture {
	t.Helper()
	f := gittest.New(t)
	for _, c := range []struct{ name, msg, want string }{
		{"G", "set the motd", revG}, {"P", "break the catalog", revP}, {"A", "install nginx", revA}, {"B", "start nginx", revB},
	} {
		if got := f.Commit(c.msg, map[string]string{"manifests/site.pp": "# " + c.name + "\n"}); got != c.want {
			t.Fatalf("commit %q is %s, want %s: the fixture changed", c.msg, got, c.want)
		}
	}
	f.Push("main")
	return f
}

// mirror is a nooper's own mirror of the fixture's bare repository.
func mirror(t *testing.T, f *gittest.Fixture) *gitrepo.Repo {
	t.Helper()
	r, err := gitrepo.Mirror(context.Background(), f.Bare, filepath.Join(t.TempDir(), "code.git"))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func change(typ, title, prop, prev, desired string) report.Resource {
	return report.Resource{
		ID: typ + "[" + title + "]", Type: typ, Title: title, File: "manifests/site.pp", Line: 3,
		Events: []report.Event{{Property: prop, Previous: prev, Desired: desired, Status: "noop"}},
	}
}

// Pending in P already and unchanged by A and B: in no delta.
var motd = change("File", "/etc/motd", "content", "{md5}0", "{md5}1")

// Brought by A.
var pkgNginx = change("Package", "nginx", "ensure", "absent", "present")

// Brought by B.
var svcNginx = change("Service", "nginx", "ensure", "stopped", "running")

// standardReports are the resources each revision's noop shows, on any host.
func standardReports(rev string) []report.Resource {
	switch rev {
	case revP:
		return []report.Resource{motd}
	case revA:
		return []report.Resource{motd, pkgNginx}
	case revB:
		return []report.Resource{motd, pkgNginx, svcNginx}
	}
	return nil
}

// fakeHost plays an agent: it receives the runs of its subject and answers
// each with a canned report, at once, when released, or never.
type fakeHost struct {
	t       *testing.T
	name    string
	conn    *bus.Conn
	answer  bool
	hold    chan struct{} // answers wait until it is closed; nil: no wait
	reports func(rev string) []report.Resource
	// failing are revisions whose noop fails (a compile error).
	failing map[string]bool

	mu   sync.Mutex
	reqs []protocol.RunRequest
}

func newFakeHost(t *testing.T, conn *bus.Conn, name string, answer bool, hold chan struct{}) *fakeHost {
	t.Helper()
	h := &fakeHost{t: t, name: name, conn: conn, answer: answer, hold: hold, reports: standardReports}
	subject, err := bus.RunSubject(protocol.KindNoop, name)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := conn.NC.Subscribe(subject, h.onRun)
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.NC.Flush(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	registerHost(t, conn, name)
	return h
}

func registerHost(t *testing.T, conn *bus.Conn, name string) {
	t.Helper()
	ctx := context.Background()
	kv, err := conn.JS.KeyValue(ctx, "hosts")
	if err != nil {
		t.Fatal(err)
	}
	data, err := bus.Marshal(protocol.HostInfo{Schema: protocol.SchemaVersion, Host: name, Started: time.Now().UTC(), Seen: time.Now().UTC()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, name, data); err != nil {
		t.Fatal(err)
	}
}

func (h *fakeHost) onRun(m *nats.Msg) {
	var req protocol.RunRequest
	if err := bus.Unmarshal(m.Data, &req); err != nil {
		h.t.Errorf("%s: run request: %v", h.name, err)
		return
	}
	if req.Host != h.name || req.Kind != protocol.KindNoop || req.ID == "" || req.Deadline.IsZero() {
		h.t.Errorf("%s: unexpected run request %+v", h.name, req)
	}
	h.mu.Lock()
	h.reqs = append(h.reqs, req)
	h.mu.Unlock()
	if !h.answer {
		return
	}
	// Answer from another goroutine: the subscription must keep counting
	// while answers are held.
	go func() {
		if h.hold != nil {
			<-h.hold
		}
		h.publish(req)
	}()
}

// setReports changes what the host's noops show from now on (its state
// changed, by an apply say).
func (h *fakeHost) setReports(reports func(rev string) []report.Resource) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.reports = reports
}

func (h *fakeHost) publish(req protocol.RunRequest) {
	subject, _ := bus.ReportSubject(protocol.KindNoop, h.name)
	now := time.Now().UTC()
	h.mu.Lock()
	resources := h.reports(req.Revision)
	h.mu.Unlock()
	res := protocol.RunResult{
		Schema: protocol.SchemaVersion, RunID: req.ID, Kind: req.Kind, Host: h.name, Revision: req.Revision,
		Outcome: protocol.OutcomeDone, StartedAt: now, FinishedAt: now,
		Report: &report.Report{Host: h.name, Noop: true, PuppetStatus: "changed", Resources: resources, Time: now},
	}
	if h.failing[req.Revision] {
		res.Outcome, res.Report = protocol.OutcomeFailed, report.Failure(h.name, "Syntax error at '}'")
	}
	// A whole fleet answering at once waits for the server's synced
	// writes longer than a publish's timeout: like an agent, the host
	// sends its report again (the same id: stored once) while the bus is
	// still taking it in.
	for start := time.Now(); ; {
		_, err := h.conn.Publish(context.Background(), subject, req.ID, res)
		if err == nil {
			return
		}
		if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > bustest.Patience {
			h.t.Errorf("%s: publish report: %v", h.name, err)
			return
		}
	}
}

// requests returns the run ids received per revision.
func (h *fakeHost) requests() map[string][]string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[string][]string{}
	for _, r := range h.reqs {
		out[r.Revision] = append(out[r.Revision], r.ID)
	}
	return out
}

// runningNooper is a nooper started in a goroutine.
type runningNooper struct {
	cancel context.CancelFunc
	done   chan error
}

// testOptions never time a host out: fake hosts answer at once, however
// slow the machine, and a test about deadlines moves a testClock past them
// instead of waiting for them.
func testOptions() nooper.Options {
	return nooper.Options{RunTimeout: time.Hour, CollectionTimeout: 2 * time.Hour, Tick: 50 * time.Millisecond, Log: zerolog.Nop()}
}

// testClock is a nooper's clock that moves only when the test says.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func newTestClock() *testClock { return &testClock{now: time.Now().UTC()} }

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// startNooper starts a nooper; one given no code reader mirrors a new
// repository of newCode.
func startNooper(t *testing.T, conn *bus.Conn, o nooper.Options) *runningNooper {
	t.Helper()
	if o.Code == nil {
		o.Code = mirror(t, newCode(t))
	}
	ctx, cancel := context.WithCancel(context.Background())
	n, err := nooper.New(ctx, conn, o)
	if err != nil {
		cancel()
		t.Fatalf("new nooper: %v", err)
	}
	r := &runningNooper{cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- n.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

func (r *runningNooper) stop(t *testing.T) {
	t.Helper()
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("nooper Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("nooper Run did not return 10s after its context was cancelled")
	}
}

// pushEvent is the commit event of a push of commits A then B on main.
func pushEvent() protocol.CommitEvent {
	now := time.Now().UTC()
	return protocol.CommitEvent{
		Schema: protocol.SchemaVersion, Repo: "puppet", Ref: "refs/heads/main", Branch: "main",
		Old: revP, New: revB, Source: "hook", Time: now,
		Commits: []protocol.Commit{
			{SHA: revA, Parents: []string{revP}, Author: "Kermit", Subject: "install nginx", Time: now},
			{SHA: revB, Parents: []string{revA}, Author: "Kermit", Subject: "start nginx", Time: now},
		},
	}
}

func publishCommitEvent(t *testing.T, conn *bus.Conn, ev protocol.CommitEvent) {
	t.Helper()
	subject, err := bus.CommitSubject(ev.Repo)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Publish(context.Background(), subject, ev.Repo+":"+ev.Ref+":"+ev.New, ev); err != nil {
		t.Fatal(err)
	}
}

// events is the EVENTS log, read as a chat bridge would.
type events struct{ *bustest.EventLog }

func subscribeEvents(t *testing.T, conn *bus.Conn) *events {
	return &events{bustest.Events(t, conn)}
}

func (e *events) of(typ, commit string) []protocol.Event { return e.Of(typ, commit) }

// waitReady waits for the collection of sha to be ready and returns it.
func waitReady(t *testing.T, conn *bus.Conn, sha string) *nooper.Collection {
	t.Helper()
	var col *nooper.Collection
	eventually(t, bustest.Patience, "the noop of "+sha[:8]+" ready", func() bool {
		c, err := nooper.Load(context.Background(), conn.JS, sha)
		if err != nil {
			return false
		}
		col = c
		return c.State == nooper.StateReady
	})
	if col.Result == nil {
		t.Fatalf("noop of %s is ready without a result", sha)
	}
	return col
}

// groupSummary renders a result's groups as "Resource[id] on host,host".
func groupSummary(col *nooper.Collection) []string {
	var out []string
	for _, g := range col.Result.Groups {
		out = append(out, fmt.Sprintf("%s on %s", g.Resource.ID, strings.Join(g.Hosts, ",")))
	}
	slices.Sort(out)
	return out
}

// checkPushResult checks the delta of A and B of pushEvent on hosts, all of
// which answered with standardReports.
func checkPushResult(t *testing.T, conn *bus.Conn, evs *events, hosts []string) {
	t.Helper()
	on := strings.Join(hosts, ",")
	for _, tc := range []struct {
		sha, parent string
		want        []string
	}{
		{revA, revP, []string{"Package[nginx] on " + on}},
		{revB, revA, []string{"Service[nginx] on " + on}},
	} {
		col := waitReady(t, conn, tc.sha)
		if got := groupSummary(col); !slices.Equal(got, tc.want) {
			t.Errorf("groups of %s = %q, want %q", tc.sha[:8], got, tc.want)
		}
		if col.Parent() != tc.parent || col.Result.Parent != tc.parent {
			t.Errorf("noop of %s compared with %s / %s, want %s", tc.sha[:8], col.Parent(), col.Result.Parent, tc.parent)
		}
		if !slices.Equal(col.Result.Hosts, hosts) || !slices.Equal(col.Hosts, hosts) {
			t.Errorf("noop of %s on hosts %v / %v, want %v", tc.sha[:8], col.Hosts, col.Result.Hosts, hosts)
		}
		if len(col.Result.Unanswered) != 0 || len(col.Result.Errors) != 0 || len(col.Result.Withdrawn) != 0 {
			t.Errorf("noop of %s: unanswered %v, errors %v, withdrawn %v; want none", tc.sha[:8], col.Result.Unanswered, col.Result.Errors, col.Result.Withdrawn)
		}
		for _, h := range hosts {
			if own := groupsOf(col, h); own != 1 {
				t.Errorf("noop of %s on %s: %d own changes, want one", tc.sha[:8], h, own)
			}
		}
		eventually(t, 5*time.Second, "a noop.ready event for "+tc.sha[:8], func() bool { return len(evs.of("noop.ready", tc.sha)) > 0 })
		ready := evs.of("noop.ready", tc.sha)
		if len(ready) != 1 {
			t.Errorf("%d noop.ready events for %s, want 1: %+v", len(ready), tc.sha[:8], ready)
		}
		if groups, _ := ready[0].Data["groups"].([]any); len(groups) != len(col.Result.Groups) || ready[0].Repo != "puppet" || ready[0].Service != "nooper" {
			t.Errorf("noop.ready event %+v, want repo puppet, service nooper and %d groups", ready[0], len(col.Result.Groups))
		}
		final := fmt.Sprintf("%d of %d hosts answered", len(hosts), len(hosts))
		var texts []string
		for _, ev := range evs.of("noop.progress", tc.sha) {
			texts = append(texts, ev.Text)
		}
		if !slices.ContainsFunc(texts, func(s string) bool { return strings.HasSuffix(s, final) }) {
			t.Errorf("progress of %s: %q, want one ending %q", tc.sha[:8], texts, final)
		}
		seen := map[string]bool{}
		for _, s := range texts {
			if seen[s] {
				t.Errorf("progress of %s announced twice: %q", tc.sha[:8], s)
			}
			seen[s] = true
		}
	}
}

// groupsOf counts the change groups of col's result that list host.
func groupsOf(col *nooper.Collection, host string) int {
	n := 0
	for _, g := range col.Result.Groups {
		if slices.Contains(g.Hosts, host) {
			n++
		}
	}
	return n
}
