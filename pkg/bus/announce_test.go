package bus_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/bus/bustest"
	"github.com/balcony-dev/balcony/pkg/protocol"
)

// events subscribes a second client to balcony.event.> and returns the
// messages it receives.
func events(t *testing.T, c *bus.Conn) <-chan *nats.Msg {
	t.Helper()
	cl := bustest.Client(t, c)
	ch := make(chan *nats.Msg, 16)
	sub, err := cl.NC.ChanSubscribe(bus.EventPrefix+">", ch)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	if err := cl.NC.Flush(); err != nil {
		t.Fatal(err)
	}
	return ch
}

func next(t *testing.T, ch <-chan *nats.Msg) *nats.Msg {
	t.Helper()
	select {
	case m := <-ch:
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no event received")
		return nil
	}
}

func eventCount(t *testing.T, c *bus.Conn) uint64 {
	t.Helper()
	s, err := c.JS.Stream(context.Background(), "EVENTS")
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

func TestAnnounce(t *testing.T) {
	c := bustest.Start(t)
	ctx := context.Background()
	ch := events(t, c)
	fixed := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		name     string
		ev       protocol.Event
		wantTime func(time.Time) bool
	}{
		{"time filled", protocol.Event{Type: "noop-done", Text: "noop of abc done", Commit: "abc", Data: map[string]any{"groups": 2.0}},
			func(got time.Time) bool { return time.Since(got) < time.Minute && got.Location() == time.UTC }},
		{"time kept", protocol.Event{Type: "approved", Time: fixed, Host: "a.example.com"},
			func(got time.Time) bool { return got.Equal(fixed) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := c.Announce(ctx, "", tt.ev); err != nil {
				t.Fatal(err)
			}
			m := next(t, ch)
			if m.Subject != bus.EventPrefix+tt.ev.Type {
				t.Errorf("subject %q, want %q", m.Subject, bus.EventPrefix+tt.ev.Type)
			}
			if ct := m.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("content type %q", ct)
			}
			var got protocol.Event
			if err := json.Unmarshal(m.Data, &got); err != nil {
				t.Fatalf("not JSON: %v: %s", err, m.Data)
			}
			if !tt.wantTime(got.Time) {
				t.Errorf("time %v", got.Time)
			}
			got.Time = tt.ev.Time
			if got.Type != tt.ev.Type || got.Text != tt.ev.Text || got.Commit != tt.ev.Commit || got.Host != tt.ev.Host || len(got.Data) != len(tt.ev.Data) {
				t.Errorf("got %+v, want %+v", got, tt.ev)
			}
		})
	}
	if n := eventCount(t, c); n != uint64(len(tests)) {
		t.Errorf("EVENTS holds %d messages, want %d", n, len(tests))
	}
}

func TestAnnounceDeduplicatesByMsgID(t *testing.T) {
	c := bustest.Start(t)
	ctx := context.Background()
	ev := protocol.Event{Type: "approved", Text: "abc approved"}
	for range 2 {
		if err := c.Announce(ctx, "approved:abc", ev); err != nil {
			t.Fatal(err)
		}
	}
	if n := eventCount(t, c); n != 1 {
		t.Fatalf("same id announced twice: %d messages stored, want 1", n)
	}
	// Without an id nothing is deduplicated; another id is another message.
	for _, id := range []string{"", "", "approved:def"} {
		if err := c.Announce(ctx, id, ev); err != nil {
			t.Fatal(err)
		}
	}
	if n := eventCount(t, c); n != 4 {
		t.Fatalf("%d messages stored, want 4", n)
	}
	s, err := c.JS.Stream(ctx, "EVENTS")
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.GetMsg(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if id := m.Header.Get(jetstream.MsgIDHeader); id != "approved:abc" {
		t.Errorf("Nats-Msg-Id %q, want approved:abc", id)
	}
}

func TestAnnounceInvalidTypeFails(t *testing.T) {
	c := bustest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Announce(ctx, "", protocol.Event{Type: "two words"}); err == nil {
		t.Fatal("announced on a subject with a space")
	}
}

func TestReject(t *testing.T) {
	c := bustest.Start(t)
	ch := events(t, c)
	c.Reject(context.Background(), "nooper", "balcony.report.noop.a.example.com", errors.New("schema version 99, want 1"))
	m := next(t, ch)
	if m.Subject != "balcony.event.rejected.nooper" {
		t.Fatalf("subject %q", m.Subject)
	}
	var ev protocol.Event
	if err := json.Unmarshal(m.Data, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Type != "rejected" || ev.Service != "nooper" || ev.Time.IsZero() {
		t.Errorf("event %+v", ev)
	}
	if ev.Data["subject"] != "balcony.report.noop.a.example.com" || ev.Data["reason"] != "schema version 99, want 1" {
		t.Errorf("data %v", ev.Data)
	}
	want := "nooper rejected a message on balcony.report.noop.a.example.com: schema version 99, want 1"
	if ev.Text != want {
		t.Errorf("text %q, want %q", ev.Text, want)
	}
	if n := eventCount(t, c); n != 1 {
		t.Errorf("EVENTS holds %d messages, want 1 (stored, not only broadcast)", n)
	}
}

// An agent's rejection is announced on its own host's subject.
func TestRejectRun(t *testing.T) {
	c := bustest.Start(t)
	ch := events(t, c)
	c.RejectRun(context.Background(), "a.example.com", "balcony.run.noop.a.example.com", errors.New("run has no id"))
	m := next(t, ch)
	if m.Subject != "balcony.event.run.rejected.a.example.com" {
		t.Fatalf("subject %q", m.Subject)
	}
	var ev protocol.Event
	if err := json.Unmarshal(m.Data, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Type != "run.rejected" || ev.Service != "agent" || ev.Host != "a.example.com" {
		t.Errorf("event %+v", ev)
	}
}

func TestEventSubject(t *testing.T) {
	tests := []struct {
		ev   protocol.Event
		want string
	}{
		{protocol.Event{Type: "noop.ready"}, "balcony.event.noop.ready"},
		{protocol.Event{Type: "run.queued", Host: "a.example.com"}, "balcony.event.run.queued.a.example.com"},
		{protocol.Event{Type: "rejected", Service: "approver"}, "balcony.event.rejected.approver"},
		{protocol.Event{Type: "run.queued"}, ""},
		{protocol.Event{Type: "run.queued", Host: "A.example.com"}, ""},
		{protocol.Event{Type: "rejected"}, ""},
		{protocol.Event{Type: "rejected", Service: "a.b"}, ""},
	}
	for _, tt := range tests {
		got, err := bus.EventSubject(tt.ev)
		if got != tt.want || (err != nil) != (tt.want == "") {
			t.Errorf("EventSubject(%+v) = %q, %v; want %q", tt.ev, got, err, tt.want)
		}
	}
}
