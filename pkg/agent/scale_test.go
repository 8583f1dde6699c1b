// The fleet-scale tests run without the race detector (make test runs them
// in a second, plain go test): under -race they took minutes of both cores
// beside the end-to-end tests, which pushed the suite past ten minutes. The
// code they drive runs under -race in every other test of the package.

//go:build !race

package agent_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/balcony-dev/balcony/pkg/agent"
	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/bus/bustest"
	"github.com/balcony-dev/balcony/pkg/protocol"
)

// TestTwoThousandAgents fans one noop run out to each of 2,000 agents
// sharing one server, as DESIGN.md's "How an agent gets its runs" measured:
// every run is executed once, every host answers once, and no consumer is
// left on RUNS.
func TestTwoThousandAgents(t *testing.T) {
	const (
		hosts = 2000
		conns = 8 // agents share connections; subscriptions are per connection anyway
	)
	srv := bustest.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// Count reports on every host's report subject.
	obs := bustest.Client(t, srv)
	var reportsMu sync.Mutex
	reportsPerHost := map[string]int{}
	var lastReport atomic.Int64
	rsub, err := obs.NC.Subscribe(bus.ReportPrefix+"noop.>", func(m *nats.Msg) {
		var r protocol.RunResult
		if err := bus.Unmarshal(m.Data, &r); err != nil {
			t.Errorf("report on %s: %v", m.Subject, err)
			return
		}
		if want := bus.ReportPrefix + "noop." + r.Host; m.Subject != want || r.Outcome != protocol.OutcomeDone {
			t.Errorf("report of %s on %s with outcome %q, want %s and done", r.Host, m.Subject, r.Outcome, want)
		}
		reportsMu.Lock()
		reportsPerHost[r.Host]++
		reportsMu.Unlock()
		lastReport.Store(time.Now().UnixNano())
	})
	if err != nil {
		t.Fatal(err)
	}
	rsub.SetPendingLimits(-1, -1) //nolint:errcheck // a slow observer must not drop reports
	rejected := subscribeEvents(t, obs, bus.EventPrefix+"run.rejected.>")
	if err := obs.NC.Flush(); err != nil {
		t.Fatal(err)
	}

	clients := make([]*bus.Conn, conns)
	for i := range clients {
		clients[i] = bustest.Client(t, srv)
	}
	log := newExecLog()
	stateRoot := t.TempDir()
	name := func(i int) string { return fmt.Sprintf("h%04d.example.com", i) }

	start := time.Now()
	agents := make([]*agent.Agent, hosts)
	{
		var wg sync.WaitGroup
		errs := make(chan error, hosts)
		sem := make(chan struct{}, 64)
		for i := range hosts {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				h := name(i)
				a, err := agent.New(ctx, clients[i%conns], agent.Options{
					Host:      h,
					StateDir:  filepath.Join(stateRoot, h),
					Executor:  fakeExecutor{host: h, log: log},
					Heartbeat: time.Hour,
					Poll:      time.Hour, // live delivery only: no safety-net polling
					Log:       zerolog.Nop(),
				})
				if err != nil {
					errs <- fmt.Errorf("new agent %s: %w", h, err)
					return
				}
				agents[i] = a
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	}
	created := time.Since(start)

	var running sync.WaitGroup
	runErrs := make(chan error, hosts)
	for _, a := range agents {
		running.Add(1)
		go func() {
			defer running.Done()
			if err := a.Run(ctx); err != nil {
				runErrs <- err
			}
		}()
	}
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		running.Wait()
		close(runErrs)
		for err := range runErrs {
			t.Errorf("agent Run: %v", err)
		}
	}
	defer stop()

	// An agent registers its host after subscribing: wait for all of them.
	hostsKV, err := srv.JS.KeyValue(ctx, "hosts")
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, "every agent registered its host", func() bool {
		st, err := hostsKV.Status(ctx)
		return err == nil && st.Values() == hosts
	})
	ready := time.Since(start)

	// Publish one run to each host, from a few publishers at once.
	runID := func(i int) string { return "noop:rev1:" + name(i) + ":1" }
	pubStart := time.Now()
	{
		var wg sync.WaitGroup
		const publishers = 16
		errs := make(chan error, publishers)
		for p := range publishers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := p; i < hosts; i += publishers {
					h := name(i)
					subject, err := bus.RunSubject(protocol.KindNoop, h)
					if err != nil {
						errs <- err
						return
					}
					req := protocol.RunRequest{
						Schema: protocol.SchemaVersion, ID: runID(i), Kind: protocol.KindNoop, Host: h,
						Revision: "rev1", Deadline: time.Now().Add(5 * time.Minute), RequestedBy: "test", Time: time.Now(),
					}
					if _, err := srv.Publish(ctx, subject, req.ID, req); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	}
	published := time.Since(pubStart)

	countReports := func() int {
		reportsMu.Lock()
		defer reportsMu.Unlock()
		return len(reportsPerHost)
	}
	// As long as reports keep coming: on a machine busy with other tests
	// the fan-out may take minutes, and a hang is what must fail.
	tick := time.NewTicker(50 * time.Millisecond)
	for seen, since := countReports(), time.Now(); seen < hosts; <-tick.C {
		if n := countReports(); n != seen {
			seen, since = n, time.Now()
		}
		if time.Since(since) > bustest.Patience {
			t.Fatalf("no new report for %s: %d of %d hosts answered, %d executions", bustest.Patience, seen, hosts, log.len())
		}
	}
	tick.Stop()
	fanOut := time.Duration(lastReport.Load() - pubStart.UnixNano())

	// A duplicate execution or report would come right behind the first:
	// let the agents go idle by stopping them, then count.
	stop()
	if err := obs.NC.Flush(); err != nil {
		t.Fatal(err)
	}

	counts, _ := log.snapshot()
	if len(counts) != hosts {
		t.Errorf("%d distinct runs executed, want %d", len(counts), hosts)
	}
	for i := range hosts {
		if n := counts[runID(i)]; n != 1 {
			t.Errorf("run %s executed %d times, want 1", runID(i), n)
		}
	}
	reportsMu.Lock()
	for i := range hosts {
		if n := reportsPerHost[name(i)]; n != 1 {
			t.Errorf("host %s: %d reports, want 1", name(i), n)
		}
	}
	reportsMu.Unlock()

	// Subscribers can see a message before its stream has stored it.
	reports, err := srv.JS.Stream(context.Background(), "REPORTS")
	if err != nil {
		t.Fatal(err)
	}
	var stored uint64
	eventually(t, 10*time.Second, "REPORTS holds one report per host", func() bool {
		info, err := reports.Info(context.Background())
		if err == nil {
			stored = info.State.Msgs
		}
		return stored >= hosts
	})
	if stored != hosts {
		t.Errorf("REPORTS holds %d messages, want %d", stored, hosts)
	}
	runs, err := srv.JS.Stream(context.Background(), "RUNS")
	if err != nil {
		t.Fatal(err)
	}
	// Agents catch up through short-lived consumers, each deleted after
	// use: none is left once they are idle.
	var info *jetstream.StreamInfo
	eventually(t, 10*time.Second, "no consumer left on RUNS", func() bool {
		info, err = runs.Info(context.Background())
		return err == nil && info.State.Consumers == 0
	})
	if info.State.Msgs != hosts {
		t.Errorf("RUNS holds %d messages, want %d", info.State.Msgs, hosts)
	}
	if n := rejected.len(); n != 0 {
		t.Errorf("%d messages rejected, want none: %+v", n, rejected.all())
	}
	t.Logf("%d agents on %d connections: created in %s, all registered after %s; published %d runs in %s; fan-out (publish start to last report) %s",
		hosts, conns, created.Round(time.Millisecond), ready.Round(time.Millisecond), hosts,
		published.Round(time.Millisecond), fanOut.Round(time.Millisecond))
}
