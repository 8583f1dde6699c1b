package agent_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/balcony-dev/balcony/pkg/agent"
	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/bus/bustest"
	"github.com/balcony-dev/balcony/pkg/protocol"
	"github.com/balcony-dev/balcony/pkg/report"
)

// eventually polls cond until it holds or the timeout passes.
var eventually = bustest.Eventually

// fakeExecutor answers every run at once, without Puppet, and records the
// runs it executed.
type fakeExecutor struct {
	host string
	log  *execLog
}

func (e fakeExecutor) Execute(_ context.Context, req protocol.RunRequest) *protocol.RunResult {
	e.log.add(req.ID)
	now := time.Now().UTC()
	return &protocol.RunResult{
		Schema: protocol.SchemaVersion, RunID: req.ID, Kind: req.Kind, Host: e.host,
		Revision: req.Revision, Outcome: protocol.OutcomeDone,
		Report:    &report.Report{Host: e.host, Noop: true},
		StartedAt: now, FinishedAt: now,
	}
}

// execLog counts executions per run id and keeps their order.
type execLog struct {
	mu    sync.Mutex
	count map[string]int
	order []string
}

func newExecLog() *execLog { return &execLog{count: map[string]int{}} }

func (l *execLog) add(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.count[id]++
	l.order = append(l.order, id)
}

func (l *execLog) snapshot() (map[string]int, []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	m := make(map[string]int, len(l.count))
	for k, v := range l.count {
		m[k] = v
	}
	return m, append([]string(nil), l.order...)
}

func (l *execLog) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.order)
}

// collector gathers messages of a core subscription.
type collector[T any] struct {
	mu   sync.Mutex
	msgs []T
}

func (c *collector[T]) add(v T) {
	c.mu.Lock()
	c.msgs = append(c.msgs, v)
	c.mu.Unlock()
}

func (c *collector[T]) all() []T {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]T(nil), c.msgs...)
}

func (c *collector[T]) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.msgs)
}

// subscribeEvents collects the JSON events published on subject.
func subscribeEvents(t *testing.T, conn *bus.Conn, subject string) *collector[protocol.Event] {
	t.Helper()
	c := &collector[protocol.Event]{}
	sub, err := conn.NC.Subscribe(subject, func(m *nats.Msg) {
		var ev protocol.Event
		if err := json.Unmarshal(m.Data, &ev); err != nil {
			t.Errorf("event on %s is not JSON: %v: %q", m.Subject, err, m.Data)
			return
		}
		c.add(ev)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.NC.Flush(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	return c
}

// subscribeResults collects the run results published on subject.
func subscribeResults(t *testing.T, conn *bus.Conn, subject string) *collector[protocol.RunResult] {
	t.Helper()
	c := &collector[protocol.RunResult]{}
	sub, err := conn.NC.Subscribe(subject, func(m *nats.Msg) {
		var r protocol.RunResult
		if err := bus.Unmarshal(m.Data, &r); err != nil {
			t.Errorf("result on %s: %v", m.Subject, err)
			return
		}
		c.add(r)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.NC.Flush(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	return c
}

// runUntilCleanup runs a on ctx until the test ends, then cancels it and
// checks that Run returned without error.
func runUntilCleanup(t *testing.T, ctx context.Context, cancel context.CancelFunc, a *agent.Agent) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("agent Run: %v", err)
		}
	})
}
