package bustest

import (
	"context"
	"encoding/json"
	"sync"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/protocol"
)

// EventLog reads EVENTS as stored (after the server's duplicate window
// has dropped repeats) with an ordered consumer, as a chat bridge would.
type EventLog struct {
	mu   sync.Mutex
	evs  []protocol.Event
	last uint64
}

// Events starts reading EVENTS from its beginning until the test ends. A
// message that is not JSON is kept with the type "(not json)" (tests
// publish garbage on purpose); a JSON event on a subject that does not
// match its type fails the test.
func Events(t testing.TB, conn *bus.Conn) *EventLog {
	t.Helper()
	e := &EventLog{}
	cons, err := conn.JS.OrderedConsumer(context.Background(), "EVENTS", jetstream.OrderedConsumerConfig{FilterSubjects: []string{bus.EventPrefix + ">"}})
	if err != nil {
		t.Fatal(err)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		var ev protocol.Event
		if json.Unmarshal(m.Data(), &ev) != nil {
			ev = protocol.Event{Type: "(not json)"}
		} else if want, err := bus.EventSubject(ev); err != nil || m.Subject() != want {
			t.Errorf("event of type %q on %s, want %s (%v)", ev.Type, m.Subject(), want, err)
		}
		meta, err := m.Metadata()
		if err != nil {
			t.Errorf("event metadata: %v", err)
			return
		}
		e.mu.Lock()
		defer e.mu.Unlock()
		e.evs = append(e.evs, ev)
		e.last = meta.Sequence.Stream
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cc.Stop)
	return e
}

// Seen is the stream sequence of the last event read.
func (e *EventLog) Seen() uint64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.last
}

// Of returns the events of typ about commit (any commit when empty).
func (e *EventLog) Of(typ, commit string) []protocol.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []protocol.Event
	for _, ev := range e.evs {
		if ev.Type == typ && (commit == "" || ev.Commit == commit) {
			out = append(out, ev)
		}
	}
	return out
}
