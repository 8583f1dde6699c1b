package bus_test

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/bus/bustest"
	"github.com/balcony-dev/balcony/pkg/protocol"
)

// TestEmbeddedPortInUse: a taken port is an error at once, naming the
// address, not a wait for a server that never becomes ready.
func TestEmbeddedPortInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, err = bus.Connect(context.Background(), bus.Options{
		Embedded: bus.EmbeddedOptions{DataDir: t.TempDir(), Listen: l.Addr().String()},
		Log:      zerolog.Nop(),
	})
	if err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("got %v, want an address in use error", err)
	}
}

func TestAnnounceRejectsBadTypes(t *testing.T) {
	c := bustest.Start(t)
	for _, typ := range []string{"", "a.>", "noop.*", "two words", "noop..ready"} {
		if err := c.Announce(context.Background(), "", protocol.Event{Type: typ, Text: "x"}); err == nil {
			t.Errorf("Announce accepted the event type %q", typ)
		}
	}
}
