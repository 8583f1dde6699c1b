package approver_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/owners"
	"github.com/balcony-dev/balcony/pkg/protocol"
)

// events collects the JSON events of balcony.event.> as stored.
type events struct {
	mu   sync.Mutex
	evs  []protocol.Event
	last uint64
}

func subscribeEvents(t *testing.T, conn *bus.Conn) *events {
	t.Helper()
	e := &events{}
	ctx := context.Background()
	cons, err := conn.JS.OrderedConsumer(ctx, "EVENTS", jetstream.OrderedConsumerConfig{FilterSubjects: []string{bus.EventPrefix + ">"}})
	if err != nil {
		t.Fatal(err)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		var ev protocol.Event
		if json.Unmarshal(m.Data(), &ev) != nil {
			ev = protocol.Event{Type: "(not json)"} // our own garbage
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

func (e *events) seen() uint64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.last
}

// of returns the events of typ about commit (any commit when empty).
func (e *events) of(typ, commit string) []protocol.Event {
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

// counts counts the approval events of commit by type.
func (e *events) counts(commit string) map[string]int {
	out := map[string]int{}
	for _, typ := range []string{"approval.needed", "approval.granted", "approval.lapsed", "approval.complete"} {
		if n := len(e.of(typ, commit)); n > 0 {
			out[typ] = n
		}
	}
	return out
}

// neededData is the Data of an approval.needed event.
type neededData struct {
	Group   string             `json:"group"`
	Owners  owners.GroupOwners `json:"owners"`
	Missing string             `json:"missing"`
}

func decodeData(t *testing.T, ev protocol.Event, v any) {
	t.Helper()
	if err := json.Unmarshal(mustJSON(t, ev.Data), v); err != nil {
		t.Fatalf("data of %s: %v", ev.Type, err)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
