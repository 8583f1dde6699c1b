// Package bustest starts a real in-process JetStream server for tests, on a
// random port with its store in the test's temporary directory, provisioned
// from streams.yaml.
package bustest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/balcony-dev/balcony"
	"github.com/balcony-dev/balcony/pkg/bus"
)

// Start starts an embedded server, provisions it and returns a connection to
// it. Both are closed when the test ends.
func Start(t testing.TB) *bus.Conn {
	t.Helper()
	ctx := context.Background()
	c, err := bus.Connect(ctx, bus.Options{
		Name:     t.Name(),
		Embedded: bus.EmbeddedOptions{DataDir: t.TempDir(), Listen: "127.0.0.1:0"},
		Log:      zerolog.Nop(),
	})
	if err != nil {
		t.Fatalf("start bus: %v", err)
	}
	t.Cleanup(c.Close)
	decl, err := bus.ParseDeclaration(balcony.StreamsYAML)
	if err != nil {
		t.Fatal(err)
	}
	if err := bus.Provision(ctx, c.JS, decl); err != nil {
		t.Fatalf("provision: %v", err)
	}
	return c
}

// Client opens another connection to the server behind c, as a separate
// process would. It is closed when the test ends.
func Client(t testing.TB, c *bus.Conn) *bus.Conn {
	t.Helper()
	cl, err := bus.Connect(context.Background(), bus.Options{URL: c.URL(), Name: t.Name() + "-client", Log: zerolog.Nop()})
	if err != nil {
		t.Fatalf("connect client: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// Patience is the least time Eventually waits. Its timeouts detect a hang,
// never a slow machine: a test run beside others on two busy cores (go
// test runs packages in parallel, with -race) may take many times longer
// than alone, and must still pass.
const Patience = 2 * time.Minute

// Eventually polls cond every 10ms until it holds, and fails the test with
// what when it does not within timeout, or Patience if that is longer: a
// timeout says how long the work may take at most, not how long it should.
// It is for waiting on state that has no event to wait on (a KV record, a
// stream's counters).
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	timeout = max(timeout, Patience)
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: still waiting for %s", timeout, what)
		}
		<-tick.C
	}
}

// WhileMoving polls cond every 100ms for as long as work shows on the bus:
// it fails the test only when none of streams' last sequence moved for
// Patience, a hang, never because a slow or busy machine took longer than
// some bound. A Puppet run or a large computation must fit in Patience;
// the whole wait need not.
func WhileMoving(t testing.TB, c *bus.Conn, what string, cond func() bool, streams ...string) {
	t.Helper()
	ctx := context.Background()
	work := func() string {
		var counts []uint64
		for _, name := range streams {
			s, err := c.JS.Stream(ctx, name)
			if err != nil {
				return err.Error()
			}
			info, err := s.Info(ctx)
			if err != nil {
				return err.Error()
			}
			counts = append(counts, info.State.LastSeq)
		}
		return fmt.Sprint(counts)
	}
	last, moved := work(), time.Now()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if now := work(); now != last {
			last, moved = now, time.Now()
		} else if time.Since(moved) > Patience {
			t.Fatalf("nothing moved on the bus for %s (%v at %s): still waiting for %s", Patience, streams, last, what)
		}
		<-tick.C
	}
}
