//go:build cluster

package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/bus/bustest"
	"github.com/balcony-dev/balcony/pkg/protocol"
	"github.com/balcony-dev/balcony/pkg/report"
	"github.com/balcony-dev/balcony/pkg/report/reporttest"
)

// fleet plays many hosts without Puppet: each run asked of one of its
// hosts is answered at once with a recorded real Puppet 7.23 noop report
// (pkg/report/testdata, fozzie's, under the host's name). It reads RUNS
// through a durable consumer of its own, as an agent catches up on what
// it missed: on a cluster its connection moves between servers, and a run
// stored while it moved must still reach it. Answers past half wait until
// the test opens the gate, so that the test can act mid-collection.
type fleet struct {
	t    *testing.T
	conn *bus.Conn
	// recorded is the recorded report each revision is answered with.
	recorded map[string]*report.Report

	mu sync.Mutex
	// asked counts the deliveries of each run id, per host and revision.
	asked map[string]map[string]map[string]int
	// answered are the run ids whose report the bus acknowledged;
	// answering those being answered.
	answered, answering map[string]bool
	started             int // answers begun
	half                int
	halfway             chan struct{} // closed once half answers are on the bus
	gate                chan struct{} // answers past half wait until it is closed
}

// newFleet registers hosts in the hosts bucket and starts answering their
// noop runs: revisions[rev] names the recorded revision (r0, r1...) a
// noop of rev shows. half is how many answers go out before the gate.
func newFleet(t *testing.T, conn *bus.Conn, hosts []string, revisions map[string]string, half int) *fleet {
	t.Helper()
	f := &fleet{
		t: t, conn: conn, recorded: map[string]*report.Report{},
		asked: map[string]map[string]map[string]int{}, answered: map[string]bool{}, answering: map[string]bool{},
		half: half, halfway: make(chan struct{}), gate: make(chan struct{}),
	}
	for rev, recorded := range revisions {
		f.recorded[rev] = reporttest.Load(t, recorded, reporttest.Hosts[0])
	}
	ctx := context.Background()
	kv, err := conn.JS.KeyValue(ctx, "hosts")
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hosts {
		f.asked[h] = map[string]map[string]int{}
		now := time.Now().UTC()
		data, err := bus.Marshal(protocol.HostInfo{Schema: protocol.SchemaVersion, Host: h, Started: now, Seen: now})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := kv.Put(ctx, h, data); err != nil {
			t.Fatal(err)
		}
	}
	cons, err := conn.JS.CreateOrUpdateConsumer(ctx, "RUNS", jetstream.ConsumerConfig{
		// A delivery lost with a killed node comes again after this; an
		// answer still at the gate is not answered twice (answering).
		Durable: "fake-fleet", AckPolicy: jetstream.AckExplicitPolicy, AckWait: 5 * time.Second,
		FilterSubject: bus.RunPrefix + protocol.KindNoop + ".>", MaxAckPending: 10000, MaxDeliver: -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	cc, err := cons.Consume(f.onRun)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cc.Stop)
	return f
}

func (f *fleet) onRun(m jetstream.Msg) {
	var req protocol.RunRequest
	if err := bus.Unmarshal(m.Data(), &req); err != nil {
		f.t.Errorf("run request on %s: %v", m.Subject(), err)
		_ = m.Term()
		return
	}
	f.mu.Lock()
	byRev, ok := f.asked[req.Host]
	if !ok || f.recorded[req.Revision] == nil || req.Kind != protocol.KindNoop {
		f.mu.Unlock()
		f.t.Errorf("a run for no host of the fleet, or of no known revision: %+v", req)
		_ = m.Term()
		return
	}
	if byRev[req.Revision] == nil {
		byRev[req.Revision] = map[string]int{}
	}
	byRev[req.Revision][req.ID]++
	switch {
	case f.answered[req.ID]:
		f.mu.Unlock()
		_ = m.Ack() // answered already: a redelivery of an unacknowledged run
		return
	case f.answering[req.ID]:
		f.mu.Unlock()
		return // acknowledged once answered, or delivered again
	}
	f.answering[req.ID] = true
	f.started++
	wait := f.started > f.half
	f.mu.Unlock()
	// Each host answers on its own, as hosts do: the consumer keeps
	// delivering while answers wait at the gate.
	go f.answer(m, req, wait)
}

// answer publishes the report of req, retrying until the bus takes it (a
// publish during a leader election fails), then acknowledges the run.
func (f *fleet) answer(m jetstream.Msg, req protocol.RunRequest, wait bool) {
	if wait {
		<-f.gate
	}
	rep := *f.recorded[req.Revision]
	rep.Host = req.Host
	now := time.Now().UTC()
	res := protocol.RunResult{
		Schema: protocol.SchemaVersion, RunID: req.ID, Kind: req.Kind, Host: req.Host, Revision: req.Revision,
		Outcome: protocol.OutcomeDone, StartedAt: now, FinishedAt: now, Report: &rep,
	}
	subject, err := bus.ReportSubject(protocol.KindNoop, req.Host)
	if err != nil {
		f.t.Error(err)
		return
	}
	deadline := time.Now().Add(bustest.Patience)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := f.conn.Publish(ctx, subject, req.ID, res)
		cancel()
		if err == nil {
			break
		}
		var tooLarge *bus.SizeError
		if errors.As(err, &tooLarge) || time.Now().After(deadline) {
			f.t.Errorf("%s: publish the report of %s: %v", req.Host, req.ID, err)
			f.mu.Lock()
			delete(f.answering, req.ID)
			f.mu.Unlock()
			return
		}
	}
	f.mu.Lock()
	f.answered[req.ID] = true
	if len(f.answered) == f.half {
		close(f.halfway)
	}
	f.mu.Unlock()
	_ = m.Ack()
}

// open lets the answers past half go.
func (f *fleet) open() { close(f.gate) }

// check fails the test unless every host was asked exactly once for each
// of revs (one run id each; a run redelivered by the fleet's own consumer
// is the same run) and for nothing else. It returns the run ids.
func (f *fleet) check(revs ...string) map[string]bool {
	f.t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	ids := map[string]bool{}
	var faults []string
	for host, byRev := range f.asked {
		if len(byRev) != len(revs) {
			faults = append(faults, fmt.Sprintf("%s asked for %d revisions, want %d", host, len(byRev), len(revs)))
		}
		for _, rev := range revs {
			runs := byRev[rev]
			if len(runs) != 1 {
				faults = append(faults, fmt.Sprintf("%s asked %d times for %s: %v", host, len(runs), rev[:8], runs))
			}
			for id := range runs {
				ids[id] = true
			}
		}
	}
	for i, fault := range faults {
		if i == 10 {
			f.t.Errorf("... and %d more", len(faults)-10)
			break
		}
		f.t.Error(fault)
	}
	return ids
}

// redelivered is how many runs the fleet's consumer delivered more than
// once (logged: a redelivery is the consumer's, not the nooper's asking).
func (f *fleet) redelivered() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, byRev := range f.asked {
		for _, runs := range byRev {
			for _, deliveries := range runs {
				if deliveries > 1 {
					n++
				}
			}
		}
	}
	return n
}
