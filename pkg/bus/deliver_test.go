package bus_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/bus/bustest"
	"github.com/balcony-dev/balcony/pkg/protocol"
)

// TestDeliver checks the delivery rules: malformed messages are rejected
// and announced, skipped ones acknowledged, failures redelivered.
func TestDeliver(t *testing.T) {
	c := bustest.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rejected := make(chan protocol.Event, 4)
	sub, err := c.NC.Subscribe("balcony.event.rejected.>", func(m *nats.Msg) {
		var ev protocol.Event
		if json.Unmarshal(m.Data, &ev) == nil {
			rejected <- ev
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe() //nolint:errcheck
	cons, err := c.JS.CreateOrUpdateConsumer(ctx, "COMMITS", jetstream.ConsumerConfig{Durable: "t", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	seen := map[string]int{}
	done := make(chan string, 16)
	cc, err := cons.Consume(c.Deliver(ctx, "test", func(_ context.Context, m jetstream.Msg) error {
		mu.Lock()
		seen[string(m.Data())]++
		n := seen[string(m.Data())]
		mu.Unlock()
		defer func() { done <- fmt.Sprintf("%s#%d", m.Data(), n) }()
		switch string(m.Data()) {
		case "bad":
			return fmt.Errorf("%w: not a commit event", bus.ErrMalformed)
		case "gone":
			return fmt.Errorf("%w: unknown commit", bus.ErrSkip)
		case "flaky":
			if n == 1 {
				return errors.New("kv unavailable")
			}
		}
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Stop()
	for _, data := range []string{"bad", "gone", "flaky"} {
		if _, err := c.JS.Publish(ctx, "balcony.commit.puppet", []byte(data)); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]bool{"bad#1": true, "gone#1": true, "flaky#1": true, "flaky#2": true}
	timeout := time.After(20 * time.Second)
	for len(want) > 0 {
		select {
		case d := <-done:
			if !want[d] {
				t.Fatalf("unexpected delivery %s", d)
			}
			delete(want, d)
		case <-timeout:
			t.Fatalf("deliveries still missing: %v", want)
		}
	}
	select {
	case ev := <-rejected:
		if ev.Service != "test" || ev.Data["subject"] != "balcony.commit.puppet" {
			t.Errorf("rejected event %+v", ev)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no rejected event")
	}
}
