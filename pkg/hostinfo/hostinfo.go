// Package hostinfo reads and writes the hosts bucket, where each host's
// record (protocol.HostInfo) is shared by two writers: the host's agent
// (heartbeat, Puppet's state) and the applier (the last applied
// revision). Every write is a compare-and-set on the entry's revision, so
// neither writer ever undoes what the other wrote in between.
package hostinfo

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/protocol"
)

// Bucket is the hosts bucket's name (streams.yaml).
const Bucket = "hosts"

// maxConflicts bounds the retries of an update that keeps losing the
// race. Each loss is another writer's success, so a writer loses at most
// as often as the others write meanwhile: a heartbeat and an applier
// make a handful, a hundred in a row is a bug. (20 was once too few for
// the test's two writers of 40 records each on a loaded machine.)
const maxConflicts = 100

// Get reads host's record; nil when there is none.
func Get(ctx context.Context, kv jetstream.KeyValue, host string) (*protocol.HostInfo, error) {
	info, _, err := get(ctx, kv, host)
	return info, err
}

func get(ctx context.Context, kv jetstream.KeyValue, host string) (*protocol.HostInfo, uint64, error) {
	e, err := kv.Get(ctx, host)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("read the record of %s: %w", host, err)
	}
	var info protocol.HostInfo
	if err := bus.Unmarshal(e.Value(), &info); err != nil {
		return nil, e.Revision(), fmt.Errorf("the record of %s is unreadable: %w", host, err)
	}
	return &info, e.Revision(), nil
}

// Update applies change to host's record and writes it with
// compare-and-set, reading and changing it again when another writer got
// there first. change gets the record as stored (a zero record with Host
// set when there is none, or when it is unreadable) and whether it
// existed; an error from change is returned as is and nothing is written.
func Update(ctx context.Context, kv jetstream.KeyValue, host string, change func(info *protocol.HostInfo, existed bool) error) (protocol.HostInfo, error) {
	if err := bus.ValidHost(host); err != nil {
		return protocol.HostInfo{}, err
	}
	for conflicts := 0; ; conflicts++ {
		info, rev, err := get(ctx, kv, host)
		existed := info != nil
		if err != nil && rev == 0 {
			return protocol.HostInfo{}, err
		}
		if info == nil { // none, or unreadable: replaced by a sound one
			info = &protocol.HostInfo{}
		}
		info.Host = host
		if err := change(info, existed); err != nil {
			return protocol.HostInfo{}, err
		}
		info.Schema = protocol.SchemaVersion
		data, err := bus.Marshal(info)
		if err != nil {
			return protocol.HostInfo{}, err
		}
		if rev == 0 {
			_, err = kv.Create(ctx, host, data)
		} else {
			_, err = kv.Update(ctx, host, data, rev)
		}
		if err == nil {
			return *info, nil
		}
		if !conflict(err) || conflicts >= maxConflicts {
			return protocol.HostInfo{}, fmt.Errorf("write the record of %s: %w", host, err)
		}
	}
}

// conflict tells whether a Create or Update failed because the entry
// changed since it was read.
func conflict(err error) bool {
	return errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists)
}

// List reads every readable host record, in no particular order. Records
// that expire between listing and reading, or do not decode, are left
// out.
func List(ctx context.Context, kv jetstream.KeyValue) ([]protocol.HostInfo, error) {
	keys, err := kv.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("list hosts: %w", err)
	}
	var hosts []protocol.HostInfo
	for k := range keys.Keys() {
		info, err := Get(ctx, kv, k)
		if err != nil || info == nil || bus.ValidHost(info.Host) != nil {
			continue
		}
		hosts = append(hosts, *info)
	}
	return hosts, nil
}
