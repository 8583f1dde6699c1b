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
		{name: "top-level replicas for those that set none", yaml: "replicas: 3\nstreams:\n  - {name: A, subjects: [a]}\n  - {name: B, subjects: [b], replicas: 1}\nkv:\n  - {bucket: b}\nobjects:\n  - {bucket: o}\n",
			check: func(t *testing.T, d *bus.Declaration) {
				if a, b := d.Streams[0].StreamConfig().Replicas, d.Streams[1].StreamConfig().Replicas; a != 3 || b != 1 {
					t.Errorf("stream replicas %d and %d, want 3 (top level) and 1 (its own)", a, b)
				}
				if r := d.KV[0].KeyValueConfig().Replicas; r != 3 {
					t.Errorf("kv replicas %d, want 3", r)
				}
				if r := d.Objects[0].ObjectStoreConfig().Replicas; r != 3 {
					t.Errorf("object store replicas %d, want 3", r)
				}
			}},
		{name: "replicas above five", yaml: "streams:\n  - {name: A, subjects: [a], replicas: 6}\n", wantErr: "stream A: replicas 6: want 1 to 5"},
		{name: "negative replicas", yaml: "kv:\n  - {bucket: b, replicas: -1}\n", wantErr: "kv bucket b: replicas -1"},
		{name: "top-level replicas zero", yaml: "replicas: 0\nobjects:\n  - {bucket: o}\n", check: func(t *testing.T, d *bus.Declaration) {
			if r := d.Objects[0].ObjectStoreConfig().Replicas; r != 1 {
				t.Errorf("object store replicas %d, want 1", r)
			}
		}},
		{name: "top-level replicas too many", yaml: "replicas: 7\n", wantErr: "top level: replicas 7"},
		{name: "object store replicas too many", yaml: "objects:\n  - {bucket: o, replicas: 9}\n", wantErr: "object store o: replicas 9"},
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

// The built-in declaration is for the single embedded server: one copy of
// everything, unless the operator says otherwise.
func TestDeclaredReplicasAreOneByDefault(t *testing.T) {
	d, err := bus.ParseDeclaration(balcony.StreamsYAML)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range d.Streams {
		if s.Replicas != 1 {
			t.Errorf("stream %s: replicas %d, want 1", s.Name, s.Replicas)
		}
	}
	for _, b := range d.KV {
		if b.Replicas != 1 {
			t.Errorf("kv bucket %s: replicas %d, want 1", b.Bucket, b.Replicas)
		}
	}
	for _, o := range d.Objects {
		if o.Replicas != 1 {
			t.Errorf("object store %s: replicas %d, want 1", o.Bucket, o.Replicas)
		}
	}
}

func TestSetReplicasOverridesEveryDeclaration(t *testing.T) {
	d, err := bus.ParseDeclaration([]byte("streams:\n  - {name: A, subjects: [a], replicas: 1}\nkv:\n  - {bucket: b, replicas: 5}\nobjects:\n  - {bucket: o}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.SetReplicas(3); err != nil {
		t.Fatal(err)
	}
	if s, b, o := d.Streams[0].StreamConfig().Replicas, d.KV[0].KeyValueConfig().Replicas, d.Objects[0].ObjectStoreConfig().Replicas; s != 3 || b != 3 || o != 3 {
		t.Errorf("replicas stream %d, kv %d, object store %d; want 3 each", s, b, o)
	}
	for _, n := range []int{0, -1, 6} {
		if err := d.SetReplicas(n); err == nil || !strings.Contains(err.Error(), "want 1 to 5") {
			t.Errorf("SetReplicas(%d): %v, want an error saying 1 to 5", n, err)
		}
	}
	if d.Replicas != 3 {
		t.Errorf("a refused count changed the declaration: replicas %d", d.Replicas)
	}
}

// A single server cannot hold three copies: provisioning says so, and
// what it needs, rather than leaving the operator with the server's words
// alone.
func TestProvisionThreeReplicasOnOneServer(t *testing.T) {
	c := bustest.Start(t)
	err := bus.ProvisionDeclaredReplicas(context.Background(), c.JS, 3)
	if err == nil || !strings.Contains(err.Error(), "cluster of at least 3 servers") || !strings.Contains(err.Error(), "non-clustered") {
		t.Fatalf("got %v, want the server's refusal and what it needs", err)
	}
	// At one replica, what the server holds, it provisions.
	if err := bus.ProvisionDeclaredReplicas(context.Background(), c.JS, 1); err != nil {
		t.Fatal(err)
	}
}
