// The fleet-scale tests run without the race detector (make test runs them
// in a second, plain go test): under -race they took minutes of both cores
// beside the end-to-end tests, which pushed the suite past ten minutes. The
// code they drive runs under -race in every other test of the package.

//go:build !race

package nooper_test

import (
	"context"
	"flag"
	"fmt"
	"testing"
	"time"

	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/bus/bustest"
	"github.com/balcony-dev/balcony/pkg/nooper"
)

// fleetHosts is the size of TestNoopOfAFleet's fleet: 2,000 in make test,
// 10,000 in make test-fleet (-args -hosts=10000).
var fleetHosts = flag.Int("hosts", 2000, "hosts of TestNoopOfAFleet")

// TestNoopOfAFleet runs one commit's collection across a fleet of fake
// hosts (answering at once, without Puppet): every host is asked once per
// revision and counted once, and the identical change groups into one
// group of every host. The time from the commit event to the result is
// logged, not asserted.
func TestNoopOfAFleet(t *testing.T) {
	n := *fleetHosts
	if testing.Short() {
		t.Skipf("%d hosts: skipped with -short", n)
	}
	srv := bustest.Start(t)
	conns := make([]*bus.Conn, 8)
	for i := range conns {
		conns[i] = bustest.Client(t, srv)
	}
	hosts := make([]*fakeHost, n)
	for i := range hosts {
		hosts[i] = newFakeHost(t, conns[i%len(conns)], fmt.Sprintf("h%05d.example.com", i), true, nil)
	}
	// No run deadline passes, however slow the machine: the hosts answer
	// at once, and one asked twice would be the nooper's fault.
	startNooper(t, srv, testOptions())
	evs := subscribeEvents(t, srv)

	ev := pushEvent()
	ev.Commits, ev.New = ev.Commits[:1], revA
	start := time.Now()
	publishCommitEvent(t, srv, ev)
	col := waitReadyWhileWorking(t, srv, evs, revA)
	took := time.Since(start)

	if len(col.Result.Unanswered) != 0 || len(col.Hosts) != n {
		t.Fatalf("%d hosts, %d unanswered", len(col.Hosts), len(col.Result.Unanswered))
	}
	if len(col.Result.Groups) != 1 || len(col.Result.Groups[0].Hosts) != n {
		t.Fatalf("groups %v, want one group of %d hosts", groupSummary(col)[:min(3, len(col.Result.Groups))], n)
	}
	for _, h := range hosts {
		for rev, ids := range h.requests() {
			if len(ids) != 1 {
				t.Fatalf("%s asked %d times for %s", h.name, len(ids), rev[:8])
			}
		}
	}
	t.Logf("commit event to delta of %d hosts (2 noops each): %s", n, took.Round(time.Millisecond))
}

// waitReadyWhileWorking waits for the noop of sha to be announced ready for
// as long as the bus shows work being done (runs asked, reports stored,
// records saved): it fails only when nothing moved for bustest.Patience, a
// hang, and never because a slow or busy machine took longer than some
// bound. It watches the announcement, not the record, which is costly to
// decode at this size.
func waitReadyWhileWorking(t *testing.T, conn *bus.Conn, evs *events, sha string) *nooper.Collection {
	t.Helper()
	bustest.WhileMoving(t, conn, "the noop of "+sha[:8]+" announced ready", func() bool { return len(evs.of("noop.ready", sha)) > 0 },
		"RUNS", "REPORTS", "KV_noops", "KV_reports")
	c, err := nooper.Load(context.Background(), conn.JS, sha)
	if err != nil || c.State != nooper.StateReady || c.Result == nil {
		t.Fatalf("noop of %s announced ready, but its record: %v, %+v", sha[:8], err, c)
	}
	return c
}
