package applier_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/balcony-dev/balcony/pkg/applier"
	"github.com/balcony-dev/balcony/pkg/approver"
	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/bus/bustest"
	"github.com/balcony-dev/balcony/pkg/hostinfo"
	"github.com/balcony-dev/balcony/pkg/nooper"
	"github.com/balcony-dev/balcony/pkg/protocol"
	"github.com/balcony-dev/balcony/pkg/report"
	"github.com/balcony-dev/balcony/pkg/rollout"
)

// rev makes a distinct sha per name.
func rev(name string) string {
	s := fmt.Sprintf("%x", name)
	return (s + strings.Repeat("0", 40))[:40]
}

var (
	revA = rev("a") // the hosts' baseline
	revB = rev("b") // approved
	revC = rev("c") // not approved
)

var hostNames = []string{"fozzie.example.com", "statler.example.com", "waldorf.example.com"}

// fakeCode is a branch main: revA ← revB ← revC.
type fakeCode struct{ tip string }

func (c *fakeCode) Branches() (map[string]string, error) {
	return map[string]string{"main": c.tip}, nil
}
func (c *fakeCode) Resolve(rev string) (string, error) {
	for _, r := range []string{revA, revB, revC} {
		if strings.HasPrefix(r, rev) {
			return r, nil
		}
	}
	return "", errors.New("unknown revision")
}
func (c *fakeCode) Fetch(context.Context) error { return nil }
func (c *fakeCode) Commit(sha string) (protocol.Commit, error) {
	parents := map[string][]string{revA: nil, revB: {revA}, revC: {revB}}
	p, ok := parents[sha]
	if !ok {
		return protocol.Commit{}, fmt.Errorf("unknown commit %s", sha)
	}
	return protocol.Commit{SHA: sha, Parents: p, Subject: "commit " + sha[:2]}, nil
}

// fakeApprovals approves the commits in approved, each with one group on
// every host.
type fakeApprovals struct{ approved map[string]bool }

func (f fakeApprovals) Status(_ context.Context, sha string) (*approver.StatusReply, error) {
	return &approver.StatusReply{
		Commit: protocol.Commit{SHA: sha}, Ready: true, Approved: f.approved[sha],
		Groups: []approver.GroupView{{ID: "g-" + sha[:4], Hosts: hostNames, Digest: "d-" + sha[:4]}},
	}, nil
}

// motd is the change every noop of revB shows, and every apply makes.
func motd(status string) *report.Report {
	return &report.Report{Resources: []report.Resource{{
		ID: "File[/etc/motd]", Type: "File", Title: "/etc/motd",
		Events: []report.Event{{Property: "content", Previous: "{md5}aaa", Desired: "{md5}bbb", Status: status}},
	}}}
}

// fakeNoops has every host's noop of revB show motd.
type fakeNoops struct{}

func (fakeNoops) Report(_ context.Context, rev, host string) (*protocol.RunResult, error) {
	if rev != revB {
		return nil, nooper.ErrNoReport
	}
	rep := motd("noop")
	rep.Host, rep.Noop = host, true
	return &protocol.RunResult{RunID: "noop", Kind: protocol.KindNoop, Host: host, Revision: rev, Outcome: protocol.OutcomeDone, Report: rep, FinishedAt: time.Now()}, nil
}

// fleet answers the apply runs of its hosts as agents would, and counts
// them by run id.
type fleet struct {
	t *testing.T
	// connFor is the connection each host's agent uses.
	connFor func(host string) *bus.Conn

	mu sync.Mutex
	// answer decides the result of a run; default an apply that made the
	// motd change.
	answer func(req protocol.RunRequest) *protocol.RunResult
	// hold keeps runs of these hosts unanswered.
	hold map[string]bool
	// asked counts the runs received per run id, and held the requests
	// held back.
	asked map[string]int
	held  []protocol.RunRequest
}

func newFleet(t *testing.T, conn *bus.Conn) *fleet {
	c := bustest.Client(t, conn)
	return newFleetWith(t, func(string) *bus.Conn { return c })
}

// newFleetWith is a fleet whose hosts use connFor's connections, as
// their agents would.
func newFleetWith(t *testing.T, connFor func(host string) *bus.Conn) *fleet {
	f := &fleet{t: t, connFor: connFor, asked: map[string]int{}, hold: map[string]bool{}}
	ctx := context.Background()
	for _, h := range hostNames {
		conn := connFor(h)
		subject, err := bus.RunSubject(protocol.KindApply, h)
		if err != nil {
			t.Fatal(err)
		}
		sub, err := conn.NC.Subscribe(subject, f.onRun)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = sub.Unsubscribe() })
		kv, err := conn.JS.KeyValue(ctx, hostinfo.Bucket)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := hostinfo.Update(ctx, kv, h, func(info *protocol.HostInfo, _ bool) error {
			info.LastApplied, info.Seen = revA, time.Now()
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func (f *fleet) onRun(m *nats.Msg) {
	var req protocol.RunRequest
	if err := bus.Unmarshal(m.Data, &req); err != nil {
		f.t.Errorf("undecodable run: %v", err)
		return
	}
	f.mu.Lock()
	f.asked[req.ID]++
	if f.hold[req.Host] {
		f.held = append(f.held, req)
		f.mu.Unlock()
		return
	}
	f.mu.Unlock()
	f.reply(req)
}

func (f *fleet) reply(req protocol.RunRequest) {
	f.mu.Lock()
	answer := f.answer
	f.mu.Unlock()
	var res *protocol.RunResult
	if answer != nil {
		res = answer(req)
	} else {
		res = applied(req, motd("success"))
	}
	subject, _ := bus.ReportSubject(protocol.KindApply, req.Host)
	if _, err := f.connFor(req.Host).Publish(context.Background(), subject, req.ID, res); err != nil {
		f.t.Errorf("publish report: %v", err)
	}
}

// setAnswer makes answer decide the results of the runs to come.
func (f *fleet) setAnswer(answer func(req protocol.RunRequest) *protocol.RunResult) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.answer = answer
}

// holdRuns keeps host's runs unanswered until release.
func (f *fleet) holdRuns(host string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hold[host] = true
}

// release answers the held runs and stops holding.
func (f *fleet) release() {
	f.mu.Lock()
	held := f.held
	f.held, f.hold = nil, map[string]bool{}
	f.mu.Unlock()
	for _, req := range held {
		f.reply(req)
	}
}

func (f *fleet) runs() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.asked)
}

func applied(req protocol.RunRequest, rep *report.Report) *protocol.RunResult {
	rep.Host = req.Host
	return &protocol.RunResult{
		Schema: protocol.SchemaVersion, RunID: req.ID, Kind: protocol.KindApply, Host: req.Host,
		Revision: req.Revision, Outcome: protocol.OutcomeDone, Report: rep, StartedAt: time.Now(), FinishedAt: time.Now(),
	}
}

// canaryThenAll is one canary (fozzie), a promote gate, then the rest.
func canaryThenAll(t *testing.T) applier.Config {
	cfg, err := rollout.ParseConfig([]byte(`
apply_sets:
  - name: canaries
    hosts: ["fozzie.example.com"]
    then: promote
  - name: all
    hosts: ["*"]
    batch: 1
    max_failures: 0
`))
	if err != nil {
		t.Fatal(err)
	}
	return applier.Config{Config: cfg}
}

// startApplier runs an applier until the returned stop is called (or the
// test ends).
func startApplier(t *testing.T, conn *bus.Conn, cfg applier.Config, approved ...string) (stop func()) {
	t.Helper()
	return startApplierOn(t, bustest.Client(t, conn), conn, cfg, approved...)
}

// startApplierOn runs an applier on conn, and waits until it answers
// asker's status requests.
func startApplierOn(t *testing.T, conn, asker *bus.Conn, cfg applier.Config, approved ...string) (stop func()) {
	t.Helper()
	return startApplierWith(t, conn, asker, cfg, nil, approved...)
}

// startApplierWith is startApplierOn with the applier's metrics on reg.
func startApplierWith(t *testing.T, conn, asker *bus.Conn, cfg applier.Config, reg prometheus.Registerer, approved ...string) (stop func()) {
	t.Helper()
	ok := map[string]bool{}
	for _, r := range approved {
		ok[r] = true
	}
	a, err := applier.New(context.Background(), conn, applier.Options{
		Code: &fakeCode{tip: revC}, Config: cfg, Approvals: fakeApprovals{approved: ok}, Noops: fakeNoops{},
		RunTimeout: time.Hour, Poll: 10 * time.Millisecond, Tick: 10 * time.Millisecond,
		Log: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel), Registerer: reg,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("applier: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	bustest.Eventually(t, time.Minute, "the applier to answer", func() bool {
		_, err := applier.Client{NC: asker.NC}.Status(context.Background())
		return err == nil
	})
	return stop
}

// status asks the running applier for its status.
func status(t *testing.T, conn *bus.Conn) *applier.StatusReply {
	t.Helper()
	st, err := applier.Client{NC: conn.NC}.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// waitStep waits until the rollout's step is kind.
func waitStep(t *testing.T, conn *bus.Conn, kind rollout.StepKind) *applier.StatusReply {
	t.Helper()
	var st *applier.StatusReply
	bustest.Eventually(t, time.Minute, "the rollout to reach "+string(kind), func() bool {
		var err error
		st, err = applier.Client{NC: conn.NC}.Status(context.Background())
		return err == nil && st.Step != nil && st.Step.Kind == kind
	})
	return st
}

func lastApplied(t *testing.T, conn *bus.Conn, host string) string {
	t.Helper()
	kv, err := conn.JS.KeyValue(context.Background(), hostinfo.Bucket)
	if err != nil {
		t.Fatal(err)
	}
	info, err := hostinfo.Get(context.Background(), kv, host)
	if err != nil || info == nil {
		t.Fatalf("record of %s: %v", host, err)
	}
	return info.LastApplied
}

func states(st *applier.StatusReply) map[string]string {
	out := map[string]string{}
	for h, p := range st.Rollout.Progress.Hosts {
		out[h] = string(p.State)
		if p.Reason != "" {
			out[h] += ": " + p.Reason
		}
	}
	return out
}
