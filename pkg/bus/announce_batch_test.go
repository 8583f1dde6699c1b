package bus_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/bus/bustest"
	"github.com/balcony-dev/balcony/pkg/protocol"
)

// TestAnnounceAll: more announcements than may be in flight are all
// stored, in order; a malformed one fails alone; announcing them again
// with the same ids stores nothing (the duplicate window drops them).
func TestAnnounceAll(t *testing.T) {
	c := bustest.Start(t)
	ctx := context.Background()
	const n = 100
	var evs []bus.Announcement
	for i := range n {
		evs = append(evs, bus.Announcement{MsgID: fmt.Sprintf("all-%d", i), Event: protocol.Event{Type: "approval.needed", Commit: fmt.Sprint(i), Service: "test"}})
	}
	bad := 37
	evs[bad].Event.Type = "approval needed" // a space: not a subject token
	before := eventCount(t, c)
	for round := range 2 {
		errs := c.AnnounceAll(ctx, evs, 8)
		if len(errs) != n {
			t.Fatalf("round %d: %d errors, want one per announcement", round, len(errs))
		}
		for i, err := range errs {
			if (err != nil) != (i == bad) {
				t.Errorf("round %d: announcement %d: error %v", round, i, err)
			}
		}
	}
	if got := eventCount(t, c) - before; got != n-1 {
		t.Fatalf("%d events stored, want %d", got, n-1)
	}
	s, err := c.JS.Stream(ctx, "EVENTS")
	if err != nil {
		t.Fatal(err)
	}
	want := 0
	for seq := before + 1; seq <= before+n-1; seq++ {
		if want == bad {
			want++
		}
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		if id := m.Header.Get("Nats-Msg-Id"); id != fmt.Sprintf("all-%d", want) {
			t.Errorf("event %d has id %q, want all-%d", seq, id, want)
		}
		want++
	}
}

// TestAnnounceAllCancelled: with ctx ended, nothing is announced and every
// announcement says why.
func TestAnnounceAllCancelled(t *testing.T) {
	c := bustest.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	before := eventCount(t, c)
	errs := c.AnnounceAll(ctx, []bus.Announcement{{Event: protocol.Event{Type: "approval.needed"}}, {Event: protocol.Event{Type: "approval.needed"}}}, 0)
	for i, err := range errs {
		if err == nil {
			t.Errorf("announcement %d: no error after ctx ended", i)
		}
	}
	if got := eventCount(t, c) - before; got != 0 {
		t.Errorf("%d events stored after ctx ended, want none", got)
	}
}
