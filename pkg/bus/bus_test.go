package bus_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/balcony-dev/balcony"
	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/bus/bustest"
	"github.com/balcony-dev/balcony/pkg/protocol"
)

func TestProvisionIsIdempotent(t *testing.T) {
	c := bustest.Start(t)
	ctx := context.Background()
	decl, err := bus.ParseDeclaration(balcony.StreamsYAML)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if err := bus.Provision(ctx, c.JS, decl); err != nil {
			t.Fatalf("provision #%d: %v", i+2, err)
		}
	}
	var names []string
	lister := c.JS.StreamNames(ctx)
	for n := range lister.Name() {
		names = append(names, n)
	}
	if err := lister.Err(); err != nil {
		t.Fatal(err)
	}
	// Streams plus one KV_ stream per bucket and one OBJ_ stream per object
	// store, each exactly once.
	if want := len(decl.Streams) + len(decl.KV) + len(decl.Objects); len(names) != want {
		t.Fatalf("got %d streams %v, want %d", len(names), names, want)
	}
	s, err := c.JS.Stream(ctx, "RUNS")
	if err != nil {
		t.Fatal(err)
	}
	if !s.CachedInfo().Config.AllowDirect {
		t.Error("RUNS must allow direct get")
	}
	for _, o := range decl.Objects {
		if _, err := c.JS.ObjectStore(ctx, o.Bucket); err != nil {
			t.Errorf("object store %s: %v", o.Bucket, err)
		}
	}
	if len(decl.Objects) == 0 {
		t.Error("streams.yaml declares no object store; the nooper needs one")
	}
}

func TestProvisionUpdatesAChangedStream(t *testing.T) {
	c := bustest.Start(t)
	ctx := context.Background()
	decl, _ := bus.ParseDeclaration(balcony.StreamsYAML)
	decl.Streams[0].MaxAge = time.Hour
	if err := bus.Provision(ctx, c.JS, decl); err != nil {
		t.Fatal(err)
	}
	s, err := c.JS.Stream(ctx, decl.Streams[0].Name)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.CachedInfo().Config.MaxAge; got != time.Hour {
		t.Fatalf("max age %v after update, want 1h", got)
	}
}

func TestParseDeclarationRejects(t *testing.T) {
	for name, text := range map[string]string{
		"no subjects":            "streams:\n  - name: A\n",
		"duplicate":              "streams:\n  - {name: A, subjects: [a]}\n  - {name: A, subjects: [b]}\n",
		"unnamed bucket":         "kv:\n  - history: 1\n",
		"unnamed object store":   "objects:\n  - description: x\n",
		"duplicate object store": "objects:\n  - bucket: a\n  - bucket: a\n",
		"not yaml":               "streams: [",
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := bus.ParseDeclaration([]byte(text)); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func TestCodecRoundTripAndRejects(t *testing.T) {
	in := protocol.RunRequest{Schema: protocol.SchemaVersion, ID: "r1", Kind: "noop", Host: "a.example.com", Revision: "abc"}
	data, err := bus.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out protocol.RunRequest
	if err := bus.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	if out.ID != in.ID || out.Host != in.Host {
		t.Fatalf("round trip: %+v", out)
	}
	old, _ := bus.Marshal(protocol.RunRequest{Schema: 99})
	for name, data := range map[string][]byte{
		"garbage":    []byte("not msgpack at all"),
		"old schema": old,
		"empty":      nil,
	} {
		t.Run(name, func(t *testing.T) {
			var r protocol.RunRequest
			if err := bus.Unmarshal(data, &r); !errors.Is(err, bus.ErrMalformed) {
				t.Fatalf("got %v, want ErrMalformed", err)
			}
		})
	}
}

func TestSubjects(t *testing.T) {
	s, err := bus.RunSubject("noop", "fozzie.example.com")
	if err != nil || s != "balcony.run.noop.fozzie.example.com" {
		t.Fatalf("got %q, %v", s, err)
	}
	kind, host, err := bus.SplitKindHost(bus.ReportPrefix, "balcony.report.apply.a-1.example.com")
	if err != nil || kind != "apply" || host != "a-1.example.com" {
		t.Fatalf("split: %q %q %v", kind, host, err)
	}
	for _, bad := range []string{"", "Fozzie", "a..b", "-a", "a.*", "a>b", "a b", "a.b."} {
		if _, err := bus.RunSubject("noop", bad); err == nil {
			t.Errorf("host %q accepted", bad)
		}
	}
}

func TestPublishDeduplicatesByMsgID(t *testing.T) {
	c := bustest.Start(t)
	ctx := context.Background()
	req := protocol.RunRequest{Schema: protocol.SchemaVersion, ID: "x"}
	for i := 0; i < 3; i++ {
		if _, err := c.Publish(ctx, "balcony.run.noop.a", "x", req); err != nil {
			t.Fatal(err)
		}
	}
	s, err := c.JS.Stream(ctx, "RUNS")
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 1 {
		t.Fatalf("%d messages stored, want 1", info.State.Msgs)
	}
	msg, err := s.GetMsg(ctx, 1, jetstream.WithGetMsgSubject("balcony.run.*.a"))
	if err != nil {
		t.Fatalf("direct get by wildcard subject: %v", err)
	}
	if msg.Header.Get("Content-Type") != bus.ContentTypeMsgpack {
		t.Fatalf("content type %q", msg.Header.Get("Content-Type"))
	}
}
