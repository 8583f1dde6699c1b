package credentials_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/balcony-dev/balcony/pkg/codebus"
	"github.com/balcony-dev/balcony/pkg/credentials"
	"github.com/balcony-dev/balcony/pkg/credentials/credtest"
)

// The committer writes the code object store; an agent reads it and
// cannot write it, nor read another store.
func TestCodeObjects(t *testing.T) {
	t.Parallel() // each its own bus; most of the time is waiting for a denial
	b := credtest.Start(t, spec, nil)
	ctx := context.Background()
	// Three chunks of the object store's 128 KiB, so reading takes the
	// ordered consumer's flow control too.
	pack := bytes.Repeat([]byte("pack of code "), 30_000)

	committer := b.Connect(t, credentials.Committer, "")
	w, err := committer.JS.ObjectStore(ctx, codebus.Bucket)
	if err != nil {
		t.Fatalf("committer opens the code store: %v", err)
	}
	for range 2 { // the second put replaces the first, purging its chunks
		if _, err := w.PutBytes(ctx, "pack.1", pack); err != nil {
			t.Fatalf("committer puts code: %v", err)
		}
	}
	if _, err := w.GetInfo(ctx, "pack.1"); err != nil {
		t.Errorf("committer reads an object's metadata: %v", err)
	}

	agent := b.Connect(t, credentials.Agent, fozzie)
	r, err := agent.JS.ObjectStore(ctx, codebus.Bucket)
	if err != nil {
		t.Fatalf("agent opens the code store: %v", err)
	}
	if _, err := r.GetInfo(ctx, "pack.1"); err != nil {
		t.Errorf("agent reads an object's metadata: %v", err)
	}
	if got, err := r.GetBytes(ctx, "pack.1"); err != nil || !bytes.Equal(got, pack) {
		t.Errorf("agent gets an object: %d bytes, %v; want %d bytes", len(got), err, len(pack))
	}
	// Heads (what an agent fetches at start) lists the store: an
	// ordered consumer on the objects' metadata.
	if objs, err := r.List(ctx); err != nil || len(objs) != 1 || objs[0].Name != "pack.1" {
		t.Errorf("agent lists the code store: %d objects, %v; want pack.1", len(objs), err)
	}
	for _, v := range b.Violations() {
		if strings.HasPrefix(v, "committer") || strings.HasPrefix(v, "agent") {
			t.Errorf("a permitted use violated: %s", v)
		}
	}

	who := "agent " + fozzie
	// Each try gets its own deadline: one expired would pass any try.
	try := func(what string, fn func(context.Context) error) {
		t.Helper()
		rctx, cancel := context.WithTimeout(ctx, denied)
		defer cancel()
		if err := fn(rctx); err == nil {
			t.Errorf("agent could %s", what)
		}
	}
	try("put an object", func(ctx context.Context) error { _, err := r.PutBytes(ctx, "pack.2", []byte("forged")); return err })
	violated(t, b, who, "$O."+codebus.Bucket+".C.")
	try("delete an object", func(ctx context.Context) error { return r.Delete(ctx, "pack.1") })
	violated(t, b, who, "$O."+codebus.Bucket+".M.")
	if got, err := w.GetInfo(ctx, "pack.1"); err != nil || got.Deleted {
		t.Errorf("after the agent's tries: %+v, %v; want pack.1 there", got, err)
	}
	if _, err := w.GetInfo(ctx, "pack.2"); err == nil {
		t.Error("the agent's object is in the store")
	}
	try("open the nooper's object store", func(ctx context.Context) error {
		_, err := agent.JS.ObjectStore(ctx, "noop_results")
		return err
	})
}
