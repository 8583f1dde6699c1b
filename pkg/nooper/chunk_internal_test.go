package nooper

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/nats-io/nats.go/micro"

	"github.com/balcony-dev/balcony/pkg/bus/bustest"
)

// TestChunkedFetch serves documents of many chunks and reads them with
// Client.fetch: whole, the same document throughout even when a newer one
// is built meanwhile, started over when the one begun is no longer kept,
// and an unknown revision as ErrUnknownCommit.
func TestChunkedFetch(t *testing.T) {
	const limit = 10
	conn := bustest.Start(t)
	var (
		mu      sync.Mutex
		version int
		served  chunks
		// onChunk runs before each answer, with the offset asked for.
		onChunk func(offset string)
	)
	doc := func(v int) []byte { return []byte(fmt.Sprintf("document %d: %s.", v, strings.Repeat("abcdefg", 9))) }
	svc, err := micro.AddService(conn.NC, micro.Config{Name: "chunktest", Version: "0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Stop() })
	err = svc.AddEndpoint("doc", micro.HandlerFunc(func(req micro.Request) {
		mu.Lock()
		if onChunk != nil {
			onChunk(req.Headers().Get(OffsetHeader))
		}
		v := version
		mu.Unlock()
		served.serve(req, limit, func() ([]byte, error) {
			if string(req.Data()) == "unknown" {
				return nil, fmt.Errorf("%w: unknown", ErrUnknownCommit)
			}
			return doc(v), nil
		})
	}), micro.WithEndpointSubject("test.doc"))
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.NC.Flush(); err != nil { // the endpoint is subscribed before the client asks
		t.Fatal(err)
	}
	client := Client{NC: bustest.Client(t, conn).NC}
	ctx := context.Background()

	got, err := client.fetch(ctx, "test.doc", "rev")
	if err != nil || !bytes.Equal(got, doc(0)) {
		t.Fatalf("fetch: %q, %v; want %q", got, err, doc(0))
	}

	// A newer document is built after the first chunk: the kept one is
	// served to the end.
	mu.Lock()
	onChunk = func(offset string) {
		if offset == "" {
			version++
		}
	}
	mu.Unlock()
	got, err = client.fetch(ctx, "test.doc", "rev")
	if err != nil || !bytes.Equal(got, doc(1)) {
		t.Fatalf("fetch while the document changes: %q, %v; want %q", got, err, doc(1))
	}

	// The document begun is forgotten after its third chunk (as after a
	// minute): the client starts over, once.
	mu.Lock()
	forgot := false
	onChunk = func(offset string) {
		if offset == fmt.Sprint(2*limit) && !forgot {
			forgot = true
			served.mu.Lock()
			served.docs = nil
			served.mu.Unlock()
			version++
		}
	}
	mu.Unlock()
	got, err = client.fetch(ctx, "test.doc", "rev")
	mu.Lock() // the handler set forgot
	forgotten := forgot
	mu.Unlock()
	if err != nil || !bytes.Equal(got, doc(2)) || !forgotten {
		t.Fatalf("fetch after the document was forgotten: %q, %v; want %q", got, err, doc(2))
	}

	if _, err := client.fetch(ctx, "test.doc", "unknown"); !errors.Is(err, ErrUnknownCommit) {
		t.Errorf("unknown revision: %v, want ErrUnknownCommit", err)
	}
}
