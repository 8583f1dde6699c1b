package agent_test

import (
	"bytes"
	"context"
	"encoding/json"
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

// lockedBuffer is a log sink written by the agent's goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestRunFinishedLogsWhy: the "run finished" line of a failed run says why
// it failed, so an operator need not dig the report out of REPORTS.
func TestRunFinishedLogsWhy(t *testing.T) {
	conn := bustest.Start(t)
	host := "gonzo.example.com"
	results := subscribeResults(t, conn, "balcony.report.noop."+host)
	var logs lockedBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, err := agent.New(ctx, conn, agent.Options{
		Host: host, StateDir: t.TempDir(), Executor: stuckExecutor{host: host},
		Heartbeat: time.Hour, Poll: time.Hour, Log: zerolog.New(&logs),
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	subject, _ := bus.RunSubject(protocol.KindNoop, host)
	publishRun(t, conn, subject, protocol.RunRequest{ID: "stuck", Host: host, Revision: "a", Deadline: time.Now().Add(300 * time.Millisecond)})
	publishRun(t, conn, subject, protocol.RunRequest{ID: "next", Host: host, Revision: "b"})
	eventually(t, 10*time.Second, "both runs answered", func() bool { return results.len() == 2 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	finished := map[string]map[string]any{}
	for _, fields := range logLines(t, &logs, "run finished") {
		finished[fields["run"].(string)] = fields
	}
	if got := finished["stuck"]["reason"]; got != context.DeadlineExceeded.Error() {
		t.Errorf("reason of the failed run = %v, want %q", got, context.DeadlineExceeded.Error())
	}
	if got, ok := finished["next"]["reason"]; ok {
		t.Errorf("the run that succeeded logged a reason: %v", got)
	}
}

// logLines decodes the agent's JSON log lines with the given message.
func logLines(t *testing.T, logs *lockedBuffer, message string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var fields map[string]any
		if err := json.Unmarshal([]byte(line), &fields); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if fields["message"] == message {
			out = append(out, fields)
		}
	}
	return out
}

// repairingPrefetcher says it repaired the code once, as a mirror damaged
// by a crash does when it is opened.
type repairingPrefetcher struct {
	mu      sync.Mutex
	repairs []string
}

func (p *repairingPrefetcher) Update(context.Context, ...string) error { return nil }

func (p *repairingPrefetcher) Repairs() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.repairs
	p.repairs = nil
	return out
}

// TestAgentLogsRepairs: what the mirror put right is logged, once.
func TestAgentLogsRepairs(t *testing.T) {
	conn := bustest.Start(t)
	host := "gonzo.example.com"
	var logs lockedBuffer
	fix := "removed objects/pack/pack-1.idx: index without its pack, from an interrupted fetch"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, err := agent.New(ctx, conn, agent.Options{
		Host: host, StateDir: t.TempDir(), Executor: fakeExecutor{host: host, log: newExecLog()},
		Code:      &repairingPrefetcher{repairs: []string{fix}},
		Heartbeat: time.Hour, Poll: time.Hour, Log: zerolog.New(&logs),
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	eventually(t, 10*time.Second, "the agent started", func() bool { return strings.Contains(logs.String(), "agent started") })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	got := logLines(t, &logs, "repaired the local copy of the code")
	if len(got) != 1 || got[0]["fix"] != fix {
		t.Errorf("repair log lines %v, want one with fix %q", got, fix)
	}
}
