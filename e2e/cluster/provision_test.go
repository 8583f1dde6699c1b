//go:build cluster

package cluster

import (
	"context"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/balcony-dev/balcony"
	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/protocol"
)

// A bus provisioned at one replica (streams.yaml's default) and then by a
// daemon given --replicas 3 is scaled in place: every stream, bucket and
// object store gets three replicas, keeps its messages, and the durable
// consumers follow their stream. Provisioning with no count keeps 3;
// provisioning at 1 scales back down.
func TestProvisionScalesExistingStreams(t *testing.T) {
	c := startCluster(t)
	conn := c.connect("provision")
	ctx := context.Background()
	decl, err := bus.ParseDeclaration(balcony.StreamsYAML)
	if err != nil {
		t.Fatal(err)
	}
	if err := bus.ProvisionDeclaredReplicas(ctx, conn.JS, 0); err != nil {
		t.Fatal(err)
	}
	checkReplicas(t, conn, decl, 1)
	if _, err := conn.Publish(ctx, "balcony.commit.puppet", "c1", protocol.CommitEvent{Schema: protocol.SchemaVersion, Repo: "puppet"}); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Consume(ctx, "test", bus.Durable{Stream: "COMMITS", Name: "scaled", Filter: bus.CommitPrefix + ">"}, func(context.Context, jetstream.Msg) error { return nil }); err != nil {
		t.Fatal(err)
	}

	if err := bus.ProvisionDeclaredReplicas(ctx, conn.JS, 3); err != nil {
		t.Fatalf("scale to 3: %v", err)
	}
	checkReplicas(t, conn, decl, 3)
	c.current(conn)
	s, err := conn.JS.Stream(ctx, "COMMITS")
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 1 {
		t.Errorf("COMMITS holds %d messages after scaling, want 1", info.State.Msgs)
	}
	cons, err := s.Consumer(ctx, "scaled")
	if err != nil {
		t.Fatal(err)
	}
	ci, err := cons.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ci.Cluster == nil || len(ci.Cluster.Replicas) != 2 {
		t.Errorf("the consumer's cluster after scaling: %+v, want a leader and 2 replicas", ci.Cluster)
	}

	// A daemon given no count leaves the operator's as it is.
	if err := bus.ProvisionDeclared(ctx, conn.JS); err != nil {
		t.Fatal(err)
	}
	checkReplicas(t, conn, decl, 3)

	if err := bus.ProvisionDeclaredReplicas(ctx, conn.JS, 1); err != nil {
		t.Fatalf("scale back to 1: %v", err)
	}
	checkReplicas(t, conn, decl, 1)
}

// checkReplicas checks that every declared stream, bucket and object
// store has want replicas.
func checkReplicas(t *testing.T, conn *bus.Conn, decl *bus.Declaration, want int) {
	t.Helper()
	var names []string
	for _, s := range decl.Streams {
		names = append(names, s.Name)
	}
	for _, b := range decl.KV {
		names = append(names, "KV_"+b.Bucket)
	}
	for _, o := range decl.Objects {
		names = append(names, "OBJ_"+o.Bucket)
	}
	for _, name := range names {
		s, err := conn.JS.Stream(context.Background(), name)
		if err != nil {
			t.Fatalf("stream %s: %v", name, err)
		}
		if got := s.CachedInfo().Config.Replicas; got != want {
			t.Errorf("%s: %d replicas, want %d", name, got, want)
		}
	}
}
