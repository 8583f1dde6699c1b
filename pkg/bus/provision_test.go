package bus_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/balcony-dev/balcony"
	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/bus/bustest"
)

func TestParseDeclarationEdges(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		wantErr string // empty: accepted
		check   func(t *testing.T, d *bus.Declaration)
	}{
		{name: "empty document", yaml: "", check: func(t *testing.T, d *bus.Declaration) {
			if len(d.Streams) != 0 || len(d.KV) != 0 {
				t.Errorf("got %+v", d)
			}
		}},
		{name: "comments only", yaml: "# nothing yet\n"},
		{name: "stream without name", yaml: "streams:\n  - subjects: [a]\n", wantErr: `stream ""`},
		{name: "stream with empty subjects", yaml: "streams:\n  - {name: A, subjects: []}\n", wantErr: `stream "A" needs`},
		{name: "duplicate bucket", yaml: "kv:\n  - bucket: b\n  - bucket: b\n", wantErr: `kv bucket "b" declared twice`},
		{name: "stream and bucket may share a name", yaml: "streams:\n  - {name: x, subjects: [x]}\nkv:\n  - bucket: x\n"},
		{name: "bad duration", yaml: "streams:\n  - {name: A, subjects: [a], max_age: soon}\n", wantErr: "streams.yaml"},
		{name: "history too large", yaml: "kv:\n  - {bucket: b, history: 300}\n", wantErr: "streams.yaml"},
		{name: "streams not a list", yaml: "streams: {name: A}\n", wantErr: "streams.yaml"},
		{name: "durations and sizes", yaml: "streams:\n  - {name: A, subjects: [a.>], max_age: 36h, duplicate_window: 2m, max_bytes: 1024, allow_direct: true, replicas: 3}\nkv:\n  - {bucket: b, ttl: 90m, history: 7, max_value_size: 512}\n",
			check: func(t *testing.T, d *bus.Declaration) {
				s := d.Streams[0].StreamConfig()
				if s.MaxAge != 36*time.Hour || s.Duplicates != 2*time.Minute || s.MaxBytes != 1024 || !s.AllowDirect || s.Replicas != 3 {
					t.Errorf("stream config %+v", s)
				}
				if s.MaxMsgs != -1 || s.MaxMsgsPerSubject != -1 || s.Retention != jetstream.LimitsPolicy || s.Storage != jetstream.FileStorage {
					t.Errorf("stream defaults %+v", s)
				}
				b := d.KV[0].KeyValueConfig()
				if b.TTL != 90*time.Minute || b.History != 7 || b.MaxValueSize != 512 || b.Replicas != 1 || b.Storage != jetstream.FileStorage {
					t.Errorf("kv config %+v", b)
				}
			}},
		{name: "zero values get defaults", yaml: "streams:\n  - {name: A, subjects: [a]}\nkv:\n  - {bucket: b}\n",
			check: func(t *testing.T, d *bus.Declaration) {
				if s := d.Streams[0].StreamConfig(); s.MaxBytes != -1 || s.Replicas != 1 {
					t.Errorf("stream config %+v", s)
				}
				if b := d.KV[0].KeyValueConfig(); b.History != 1 || b.Replicas != 1 || b.TTL != 0 {
					t.Errorf("kv config %+v", b)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := bus.ParseDeclaration([]byte(tt.yaml))
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("rejected: %v", err)
			case tt.wantErr != "" && err == nil:
				t.Fatalf("accepted: %+v", d)
			case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr):
				t.Fatalf("error %q does not contain %q", err, tt.wantErr)
			}
			if err == nil && tt.check != nil {
				tt.check(t, d)
			}
		})
	}
}

func TestProvisionUpdatesAChangedBucket(t *testing.T) {
	c := bustest.Start(t)
	ctx := context.Background()
	decl, err := bus.ParseDeclaration(balcony.StreamsYAML)
	if err != nil {
		t.Fatal(err)
	}
	i := bucketIndex(t, decl, "hosts")
	kv, err := c.JS.KeyValue(ctx, "hosts")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, "a.example.com", []byte("beat")); err != nil {
		t.Fatal(err)
	}
	decl.KV[i].TTL = 2 * time.Hour
	decl.KV[i].History = 3
	if err := bus.Provision(ctx, c.JS, decl); err != nil {
		t.Fatal(err)
	}
	// Another client, as a restarted daemon would, sees the new settings.
	kv, err = bustest.Client(t, c).JS.KeyValue(ctx, "hosts")
	if err != nil {
		t.Fatal(err)
	}
	st, err := kv.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.TTL() != 2*time.Hour || st.History() != 3 {
		t.Errorf("bucket ttl %s history %d after update, want 2h and 3", st.TTL(), st.History())
	}
	// The update keeps the bucket's content.
	e, err := kv.Get(ctx, "a.example.com")
	if err != nil || string(e.Value()) != "beat" {
		t.Fatalf("value after update: %v", err)
	}
	// Provisioning the original declaration again restores it.
	orig, _ := bus.ParseDeclaration(balcony.StreamsYAML)
	if err := bus.Provision(ctx, c.JS, orig); err != nil {
		t.Fatal(err)
	}
	if st, err = kv.Status(ctx); err != nil {
		t.Fatal(err)
	}
	if st.TTL() != orig.KV[i].TTL {
		t.Errorf("ttl %v after restoring, want %s", st.TTL(), orig.KV[i].TTL)
	}
}

func bucketIndex(t *testing.T, d *bus.Declaration, name string) int {
	t.Helper()
	for i, b := range d.KV {
		if b.Bucket == name {
			return i
		}
	}
	t.Fatalf("no bucket %s in streams.yaml", name)
	return -1
}

func TestProvisionDeclaredOnEmptyServer(t *testing.T) {
	c := bustest.Start(t)
	ctx := context.Background()
	// bustest already provisioned; provisioning the built-in declaration
	// again changes nothing.
	before, err := c.JS.AccountInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := bus.ProvisionDeclared(ctx, c.JS); err != nil {
		t.Fatal(err)
	}
	after, err := c.JS.AccountInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if before.Streams != after.Streams || after.Streams == 0 {
		t.Fatalf("streams %d before, %d after", before.Streams, after.Streams)
	}
}

func TestProvisionFailsOnConflict(t *testing.T) {
	c := bustest.Start(t)
	d := &bus.Declaration{Streams: []bus.StreamDecl{{Name: "OVERLAP", Subjects: []string{"balcony.run.>"}}}}
	err := bus.Provision(context.Background(), c.JS, d)
	if err == nil || !strings.Contains(err.Error(), "provision stream OVERLAP") {
		t.Fatalf("got %v, want an error naming the stream", err)
	}
}
