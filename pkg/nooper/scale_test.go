package nooper_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/bus/bustest"
)

// TestNoopOfTwoThousandHosts runs one commit's collection across 2,000
// fake hosts (answering at once, without Puppet): every host is asked once
// per revision and counted once, and the identical change groups into one
// group of 2,000 hosts. The time from the commit event to the result is
// logged, not asserted.
func TestNoopOfTwoThousandHosts(t *testing.T) {
	if testing.Short() {
		t.Skip("2,000 hosts: skipped with -short")
	}
	const n = 2000
	srv := bustest.Start(t)
	conns := make([]*bus.Conn, 8)
	for i := range conns {
		conns[i] = bustest.Client(t, srv)
	}
	hosts := make([]*fakeHost, n)
	for i := range hosts {
		hosts[i] = newFakeHost(t, conns[i%len(conns)], fmt.Sprintf("h%04d.example.com", i), true, nil)
	}
	o := testOptions()
	o.RunTimeout, o.CollectionTimeout = time.Minute, 2*time.Minute
	startNooper(t, srv, o)

	ev := pushEvent()
	ev.Commits, ev.New = ev.Commits[:1], revA
	start := time.Now()
	publishCommitEvent(t, srv, ev)
	col := waitReady(t, srv, revA, 2*time.Minute)
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
