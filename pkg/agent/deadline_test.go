package agent_test

import (
	"context"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/balcony-dev/balcony/pkg/agent"
	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/bus/bustest"
	"github.com/balcony-dev/balcony/pkg/protocol"
	"github.com/balcony-dev/balcony/pkg/report"
)

// stuckExecutor blocks the first run until its context ends (as a run
// waiting on Puppet's lock would), and answers the others at once.
type stuckExecutor struct{ host string }

func (e stuckExecutor) Execute(ctx context.Context, req protocol.RunRequest) *protocol.RunResult {
	res := &protocol.RunResult{Schema: protocol.SchemaVersion, RunID: req.ID, Kind: req.Kind, Host: e.host, Revision: req.Revision, Outcome: protocol.OutcomeDone, Report: &report.Report{Host: e.host}}
	if req.ID == "stuck" {
		<-ctx.Done()
		res.Outcome, res.Report = protocol.OutcomeFailed, report.Failure(e.host, ctx.Err().Error())
	}
	return res
}

// TestRunBoundedByItsDeadline: a run stuck past its deadline is cut short
// and answered as failed, and the host's next run is not held up.
func TestRunBoundedByItsDeadline(t *testing.T) {
	conn := bustest.Start(t)
	host := "gonzo.example.com"
	results := subscribeResults(t, conn, "balcony.report.noop."+host)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, err := agent.New(ctx, conn, agent.Options{
		Host: host, StateDir: t.TempDir(), Executor: stuckExecutor{host: host},
		Heartbeat: time.Hour, Poll: time.Hour, Log: zerolog.Nop(),
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
	got := results.all()
	if got[0].RunID != "stuck" || got[0].Outcome != protocol.OutcomeFailed || len(got[0].Report.Errors) == 0 {
		t.Errorf("stuck run answered %+v", got[0])
	}
	if got[1].RunID != "next" || got[1].Outcome != protocol.OutcomeDone {
		t.Errorf("next run answered %+v", got[1])
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
