package agent_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/balcony-dev/balcony/pkg/agent"
	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/bus/bustest"
	"github.com/balcony-dev/balcony/pkg/protocol"
)

// runningAgent is an agent started in a goroutine; stop cancels it and
// waits for Run to return.
type runningAgent struct {
	cancel context.CancelFunc
	done   chan error
}

func startAgent(t *testing.T, conn *bus.Conn, host, stateDir string, log *execLog) *runningAgent {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	a, err := agent.New(ctx, conn, agent.Options{
		Host: host, StateDir: stateDir, Executor: fakeExecutor{host: host, log: log},
		Heartbeat: time.Hour, Poll: time.Hour, Log: zerolog.Nop(),
	})
	if err != nil {
		cancel()
		t.Fatalf("new agent: %v", err)
	}
	r := &runningAgent{cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- a.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

func (r *runningAgent) stop(t *testing.T) {
	t.Helper()
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("agent Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("agent Run did not return 10s after its context was cancelled")
	}
}

func publishRun(t *testing.T, conn *bus.Conn, subject string, req protocol.RunRequest) {
	t.Helper()
	req.Schema = protocol.SchemaVersion
	if req.Kind == "" {
		req.Kind = protocol.KindNoop
	}
	if req.Deadline.IsZero() {
		req.Deadline = time.Now().Add(time.Hour)
	}
	if _, err := conn.Publish(context.Background(), subject, req.ID, req); err != nil {
		t.Fatalf("publish run %s: %v", req.ID, err)
	}
}

// TestAgentCatchesUpAfterRestart checks the agent's contract with RUNS: runs
// stored while it was away are executed when it starts, once each and in
// order; its cursor survives a restart; expired runs are answered without
// being run; malformed runs are rejected with a reason and skipped.
func TestAgentCatchesUpAfterRestart(t *testing.T) {
	const host = "fozzie.example.com"
	srv := bustest.Start(t)
	client := bustest.Client(t, srv)
	subject, err := bus.RunSubject(protocol.KindNoop, host)
	if err != nil {
		t.Fatal(err)
	}
	reportSubject, _ := bus.ReportSubject(protocol.KindNoop, host)
	results := subscribeResults(t, srv, reportSubject)
	rejected := subscribeEvents(t, srv, bus.EventPrefix+"run.rejected."+host)
	stateDir := t.TempDir()
	log := newExecLog()
	resultOf := func(id string) []protocol.RunResult {
		var out []protocol.RunResult
		for _, r := range results.all() {
			if r.RunID == id {
				out = append(out, r)
			}
		}
		return out
	}

	// Runs stored before any agent runs, with another host's in between.
	publishRun(t, srv, subject, protocol.RunRequest{ID: "r1", Host: host, Revision: "aaa"})
	other, _ := bus.RunSubject(protocol.KindNoop, "statler.example.com")
	publishRun(t, srv, other, protocol.RunRequest{ID: "statler-1", Host: "statler.example.com", Revision: "aaa"})
	publishRun(t, srv, subject, protocol.RunRequest{ID: "r2", Host: host, Revision: "bbb"})
	publishRun(t, srv, subject, protocol.RunRequest{ID: "r3", Host: host, Revision: "ccc"})
	// A retry of r2 with the same msg id is dropped by the server.
	publishRun(t, srv, subject, protocol.RunRequest{ID: "r2", Host: host, Revision: "bbb"})

	first := startAgent(t, client, host, stateDir, log)
	eventually(t, 10*time.Second, "r1..r3 executed and answered", func() bool {
		return log.len() >= 3 && len(resultOf("r3")) == 1
	})
	first.stop(t)
	if _, order := log.snapshot(); !slices.Equal(order, []string{"r1", "r2", "r3"}) {
		t.Fatalf("executed %v after catching up, want [r1 r2 r3] once each, in order", order)
	}

	// Restart on the same state: nothing finished runs again; a new run,
	// published while the agent is down, runs.
	publishRun(t, srv, subject, protocol.RunRequest{ID: "r4", Host: host, Revision: "ddd"})
	startAgent(t, client, host, stateDir, log)
	eventually(t, 10*time.Second, "r4 answered after the restart", func() bool { return len(resultOf("r4")) == 1 })
	if _, order := log.snapshot(); !slices.Equal(order, []string{"r1", "r2", "r3", "r4"}) {
		t.Fatalf("executed %v after the restart, want [r1 r2 r3 r4]", order)
	}

	// An expired run is answered as expired and not executed.
	publishRun(t, srv, subject, protocol.RunRequest{ID: "r5-expired", Host: host, Revision: "eee", Deadline: time.Now().Add(-time.Minute)})
	eventually(t, 10*time.Second, "the expired run answered", func() bool { return len(resultOf("r5-expired")) == 1 })
	if r := resultOf("r5-expired")[0]; r.Outcome != protocol.OutcomeExpired || r.Host != host || r.Revision != "eee" {
		t.Errorf("expired run answered %+v, want outcome expired for %s at eee", r, host)
	}

	// Malformed runs on this host's subject: another host's run, and bytes
	// that are not msgpack. Both are rejected, and the agent goes on.
	publishRun(t, srv, subject, protocol.RunRequest{ID: "r6-wrong-host", Host: "waldorf.example.com", Revision: "fff"})
	if _, err := srv.JS.Publish(context.Background(), subject, []byte("not msgpack {]")); err != nil {
		t.Fatal(err)
	}
	publishRun(t, srv, subject, protocol.RunRequest{ID: "r7", Host: host, Revision: "ggg"})
	eventually(t, 10*time.Second, "r7 answered after the malformed runs", func() bool { return len(resultOf("r7")) == 1 })
	eventually(t, 5*time.Second, "two rejected events", func() bool { return rejected.len() >= 2 })

	counts, order := log.snapshot()
	if want := []string{"r1", "r2", "r3", "r4", "r7"}; !slices.Equal(order, want) {
		t.Errorf("executed %v, want %v", order, want)
	}
	for id, n := range counts {
		if n != 1 {
			t.Errorf("run %s executed %d times", id, n)
		}
	}
	if n := len(resultOf("r6-wrong-host")); n != 0 {
		t.Errorf("the other host's run was answered %d times", n)
	}
	for _, id := range []string{"r1", "r2", "r3", "r4", "r7"} {
		if rs := resultOf(id); len(rs) != 1 || rs[0].Outcome != protocol.OutcomeDone {
			t.Errorf("run %s answered %+v, want one done result", id, rs)
		}
	}
	evs := rejected.all()
	if len(evs) != 2 {
		t.Fatalf("%d rejected events, want 2: %+v", len(evs), evs)
	}
	for i, want := range []string{"waldorf.example.com", "not a msgpack map"} {
		ev := evs[i]
		reason, _ := ev.Data["reason"].(string)
		if ev.Type != "run.rejected" || ev.Service != "agent" || ev.Host != host || ev.Data["subject"] != subject || !strings.Contains(reason, want) || ev.Text == "" {
			t.Errorf("rejected event %d = %+v, want service agent, subject %s and a reason mentioning %q", i, ev, subject, want)
		}
	}
}

// A run stored while the agent cannot read RUNS (its catch-ups fail, as
// on a busy server's timeouts) is executed as soon as a catch-up succeeds
// again: a failed catch-up is retried, and never counts as having missed a
// run (the agent used to wait for its next poll, an hour here).
func TestRunSurvivesFailingCatchUps(t *testing.T) {
	const host = "fozzie.example.com"
	srv := bustest.Start(t)
	subject, _ := bus.RunSubject(protocol.KindNoop, host)
	reportSubject, _ := bus.ReportSubject(protocol.KindNoop, host)
	results := subscribeResults(t, srv, reportSubject)
	log := newExecLog()
	a, err := agent.New(context.Background(), bustest.Client(t, srv), agent.Options{
		Host: host, StateDir: t.TempDir(), Executor: fakeExecutor{host: host, log: log},
		Heartbeat: time.Hour, Poll: time.Hour, Log: zerolog.Nop(),
	})
	if err != nil {
		t.Fatal(err)
	}
	// One failure was enough for the run to wait for the next poll.
	const fail = 3
	var mu sync.Mutex
	failures := 0
	agent.SetCatchUpFault(a, func() error {
		mu.Lock()
		defer mu.Unlock()
		if failures < fail {
			failures++
			return errors.New("timeout (injected)")
		}
		return nil
	})
	publishRun(t, srv, subject, protocol.RunRequest{ID: "r1", Host: host, Revision: "aaa"})
	ctx, cancel := context.WithCancel(context.Background())
	runUntilCleanup(t, ctx, cancel, a)
	eventually(t, time.Minute, "the run executed after the failures", func() bool { return len(results.all()) == 1 })
	mu.Lock()
	defer mu.Unlock()
	if failures != fail {
		t.Errorf("%d catch-ups failed, want %d", failures, fail)
	}
}
