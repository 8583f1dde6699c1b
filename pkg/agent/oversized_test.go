package agent_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/balcony-dev/balcony/pkg/agent"
	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/bus/bustest"
	"github.com/balcony-dev/balcony/pkg/protocol"
	"github.com/balcony-dev/balcony/pkg/report"
)

// hugeExecutor answers the run "huge" with a report larger than the bus's
// limit (a whole-file diff of size bytes, and some errors), the others
// with a small one.
type hugeExecutor struct {
	host string
	size int
	log  *execLog
}

func (e hugeExecutor) Execute(_ context.Context, req protocol.RunRequest) *protocol.RunResult {
	e.log.add(req.ID)
	now := time.Now().UTC()
	rep := &report.Report{Host: e.host, Noop: true, PuppetStatus: "unchanged", PuppetVersion: "7.23.0", Time: now}
	if req.ID == "huge" {
		rep.PuppetStatus, rep.Failed = "failed", true
		rep.Errors = []string{"Could not evaluate: " + strings.Repeat("x", 1000), "second error", "third error"}
		rep.Resources = []report.Resource{{ID: "File[/var/big]", Type: "File", Title: "/var/big", Diff: strings.Repeat("+a line of the big file\n", e.size/24)}}
	}
	return &protocol.RunResult{
		Schema: protocol.SchemaVersion, RunID: req.ID, Kind: req.Kind, Host: e.host,
		Revision: req.Revision, Outcome: protocol.OutcomeDone, Report: rep, StartedAt: now, FinishedAt: now,
	}
}

// TestReportOverTheLimitAnsweredOnce: a run whose report is over the bus's
// payload limit is answered once, with a failure that says by how much,
// and is not run again; the host's next run goes ahead.
func TestReportOverTheLimitAnsweredOnce(t *testing.T) {
	conn := bustest.Start(t)
	host := "rizzo.example.com"
	limit := conn.PayloadLimit()
	results := subscribeResults(t, conn, "balcony.report.noop."+host)
	runs := newExecLog()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, err := agent.New(ctx, conn, agent.Options{
		Host: host, StateDir: t.TempDir(), Executor: hugeExecutor{host: host, size: limit + limit/8, log: runs},
		Heartbeat: time.Hour, Poll: time.Hour, Log: zerolog.Nop(),
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	subject, _ := bus.RunSubject(protocol.KindNoop, host)
	publishRun(t, conn, subject, protocol.RunRequest{ID: "huge", Host: host, Revision: "a"})
	publishRun(t, conn, subject, protocol.RunRequest{ID: "next", Host: host, Revision: "b"})

	eventually(t, bustest.Patience, "the run after the huge one answered", func() bool {
		for _, r := range results.all() {
			if r.RunID == "next" {
				return true
			}
		}
		return false
	})
	got := results.all()
	if len(got) != 2 || got[0].RunID != "huge" {
		t.Fatalf("answers %v, want huge then next, once each", runIDs(got))
	}
	r := got[0]
	if r.Outcome != protocol.OutcomeFailed || r.Report == nil || !r.Report.Failed || len(r.Report.Errors) == 0 {
		t.Fatalf("answer to the huge run: %+v, want a failure", r)
	}
	want := fmt.Sprintf("over the bus's limit of %d bytes", limit)
	if !slices.ContainsFunc(r.Report.Errors, func(e string) bool { return strings.Contains(e, want) && strings.Contains(e, "1 resources") }) {
		t.Errorf("errors %q: none says %q and counts the resources", r.Report.Errors, want)
	}
	if len(r.Report.Errors) != 4 || !slices.Contains(r.Report.Errors, "second error") ||
		slices.ContainsFunc(r.Report.Errors, func(e string) bool { return len(e) > 400 }) {
		t.Errorf("errors %q, want the reason and the run's three errors, cut", r.Report.Errors)
	}
	if r.Report.PuppetVersion != "7.23.0" || !r.Report.Noop {
		t.Errorf("report %+v lost the run's Puppet version or noop flag", r.Report)
	}
	if counts, _ := runs.snapshot(); counts["huge"] != 1 {
		t.Errorf("the huge run was executed %d times, want once", counts["huge"])
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func runIDs(rs []protocol.RunResult) []string {
	var ids []string
	for _, r := range rs {
		ids = append(ids, r.RunID)
	}
	return ids
}
