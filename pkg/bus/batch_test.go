package bus_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/bus/bustest"
)

// TestPublishAll publishes a batch larger than its window: every message
// is stored once, under its id, and one too large fails alone, with the
// size error, while the rest are stored.
func TestPublishAll(t *testing.T) {
	c := bustest.Start(t)
	ctx := context.Background()
	const n = 300
	msgs := make([]bus.Outgoing, n)
	for i := range msgs {
		msgs[i] = bus.Outgoing{Subject: fmt.Sprintf("balcony.event.test.m%d", i), MsgID: fmt.Sprintf("m%d", i), Value: map[string]int{"i": i}}
	}
	msgs[7].Value = strings.Repeat("x", c.PayloadLimit()+1)
	errs := c.PublishAll(ctx, msgs, 16)
	if len(errs) != n {
		t.Fatalf("%d errors for %d messages", len(errs), n)
	}
	var size *bus.SizeError
	for i, err := range errs {
		if i == 7 && !errors.As(err, &size) {
			t.Errorf("message 7 over the limit: %v, want a size error", err)
		}
		if i != 7 && err != nil {
			t.Errorf("message %d: %v", i, err)
		}
	}
	info, err := c.JS.Stream(ctx, "EVENTS")
	if err != nil {
		t.Fatal(err)
	}
	if got := info.CachedInfo().State.Msgs; got != n-1 {
		t.Errorf("EVENTS holds %d messages, want %d", got, n-1)
	}
	// Again: every id is a duplicate, so nothing more is stored.
	msgs[7].Value = "small"
	if errs := c.PublishAll(ctx, msgs, 0); errs != nil {
		t.Errorf("publishing again: %v", errs)
	}
	info, _ = c.JS.Stream(ctx, "EVENTS")
	if got := info.CachedInfo().State.Msgs; got != n {
		t.Errorf("EVENTS holds %d messages after publishing again, want %d (each once)", got, n)
	}
}

// TestConsumeWorkers consumes with several workers: every message is
// handled once and acknowledged, and handlers do run at the same time
// (each waits until another has started).
func TestConsumeWorkers(t *testing.T) {
	c := bustest.Start(t)
	ctx := context.Background()
	const n = 40
	for i := range n {
		if _, err := c.Publish(ctx, fmt.Sprintf("balcony.event.test.w%d", i), fmt.Sprintf("w%d", i), i); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	seen := map[string]int{}
	together := make(chan struct{})
	var once sync.Once
	started := make(chan struct{}, n)
	all := make(chan struct{})
	cc, err := c.Consume(ctx, "test", bus.Durable{Stream: "EVENTS", Name: "workers", Filter: "balcony.event.test.>", MaxAckPending: 8, Workers: 4},
		func(_ context.Context, m jetstream.Msg) error {
			started <- struct{}{}
			if len(started) >= 2 {
				once.Do(func() { close(together) })
			}
			select { // the first handler waits for a second one
			case <-together:
			case <-time.After(bustest.Patience):
				t.Error("no two handlers ran at the same time")
				once.Do(func() { close(together) })
			}
			mu.Lock()
			defer mu.Unlock()
			seen[m.Subject()]++
			if len(seen) == n {
				close(all)
			}
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	<-all
	cc.Stop() // returns once the workers are done
	for s, k := range seen {
		if k != 1 {
			t.Errorf("%s handled %d times", s, k)
		}
	}
	cons, err := c.JS.Consumer(ctx, "EVENTS", "workers")
	if err != nil {
		t.Fatal(err)
	}
	bustest.Eventually(t, bustest.Patience, "every message acknowledged", func() bool {
		info, err := cons.Info(ctx)
		return err == nil && info.AckFloor.Consumer == n
	})
}
