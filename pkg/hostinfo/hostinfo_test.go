package hostinfo_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/balcony-dev/balcony/pkg/bus/bustest"
	"github.com/balcony-dev/balcony/pkg/hostinfo"
	"github.com/balcony-dev/balcony/pkg/protocol"
)

func bucket(t *testing.T) jetstream.KeyValue {
	t.Helper()
	conn := bustest.Start(t)
	kv, err := conn.JS.KeyValue(context.Background(), hostinfo.Bucket)
	if err != nil {
		t.Fatal(err)
	}
	return kv
}

// Two writers of one record, each changing only its own fields, never
// undo each other: every heartbeat and every applied revision written
// survives the other's writes (the heartbeat read-then-put used to drop
// an applied revision written between its read and its put).
func TestConcurrentWritersKeepEachOthersFields(t *testing.T) {
	kv := bucket(t)
	ctx := context.Background()
	const host, writes = "fozzie.example.com", 40
	var wg sync.WaitGroup
	errs := make(chan error, 2*writes)
	wg.Add(2)
	go func() { // the agent's heartbeat
		defer wg.Done()
		for i := range writes {
			_, err := hostinfo.Update(ctx, kv, host, func(info *protocol.HostInfo, _ bool) error {
				info.Version = fmt.Sprintf("beat-%d", i)
				return nil
			})
			errs <- err
		}
	}()
	go func() { // the applier
		defer wg.Done()
		for i := range writes {
			_, err := hostinfo.Update(ctx, kv, host, func(info *protocol.HostInfo, _ bool) error {
				info.LastApplied = fmt.Sprintf("%040d", i)
				return nil
			})
			errs <- err
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	got, err := hostinfo.Get(ctx, kv, host)
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != fmt.Sprintf("beat-%d", writes-1) || got.LastApplied != fmt.Sprintf("%040d", writes-1) {
		t.Fatalf("record after both writers: version %q, last applied %q; want both writers' last values", got.Version, got.LastApplied)
	}
}

// A change that fails writes nothing; an unreadable record is replaced.
func TestUpdateErrorsAndUnreadable(t *testing.T) {
	kv := bucket(t)
	ctx := context.Background()
	const host = "statler.example.com"
	if _, err := kv.Put(ctx, host, []byte("not msgpack")); err != nil {
		t.Fatal(err)
	}
	if _, err := hostinfo.Get(ctx, kv, host); err == nil {
		t.Fatal("Get of an unreadable record: no error")
	}
	refused := fmt.Errorf("no")
	if _, err := hostinfo.Update(ctx, kv, host, func(*protocol.HostInfo, bool) error { return refused }); err != refused {
		t.Fatalf("Update whose change fails: %v, want the change's error", err)
	}
	info, err := hostinfo.Update(ctx, kv, host, func(info *protocol.HostInfo, existed bool) error {
		if existed {
			return fmt.Errorf("an unreadable record counted as existing")
		}
		info.Version = "v1"
		return nil
	})
	if err != nil || info.Host != host || info.Version != "v1" {
		t.Fatalf("Update over an unreadable record: %+v, %v", info, err)
	}
	hosts, err := hostinfo.List(ctx, kv)
	if err != nil || len(hosts) != 1 || hosts[0].Host != host {
		t.Fatalf("List: %+v, %v", hosts, err)
	}
	if _, err := hostinfo.Update(ctx, kv, "Not A Host", func(*protocol.HostInfo, bool) error { return nil }); err == nil {
		t.Fatal("Update of an invalid host name: no error")
	}
}
