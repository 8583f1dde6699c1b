package nooper

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/protocol"
)

// A fleet's worth of keys is read with one watch of the bucket (a
// consumer streaming the last value of every key that matches), not one
// request per key: ten thousand gets take seconds, the watch a fraction
// of one.

// errWatchEnded is returned when a bucket's watch closes before its
// initial values are all in (the connection closed).
var errWatchEnded = errors.New("the watch of the bucket ended early")

// each calls fn with the current value of every key of kv matching
// filter (a key or a wildcard, as in subjects), deleted keys left out.
func each(ctx context.Context, kv jetstream.KeyValue, filter string, fn func(key string, value []byte) error) error {
	w, err := kv.Watch(ctx, filter, jetstream.IgnoreDeletes())
	if err != nil {
		return fmt.Errorf("watch %s in %s: %w", filter, kv.Bucket(), err)
	}
	defer w.Stop() //nolint:errcheck // nothing to do about it
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case e, ok := <-w.Updates():
			if !ok {
				return fmt.Errorf("%s in %s: %w", filter, kv.Bucket(), errWatchEnded)
			}
			if e == nil { // the initial values are all in
				return nil
			}
			if err := fn(e.Key(), e.Value()); err != nil {
				return err
			}
		}
	}
}

// reportHead is what a collection needs to know of a stored report to
// tell whether it answers a need: decoding only these fields skips the
// resources.
type reportHead struct {
	Schema     int       `msgpack:"schema"`
	RunID      string    `msgpack:"run_id"`
	Host       string    `msgpack:"host"`
	Revision   string    `msgpack:"revision"`
	FinishedAt time.Time `msgpack:"finished_at"`
	Report     *struct {
		Failed bool `msgpack:"failed"`
	} `msgpack:"report"`
}

// result is the head as the RunResult Collection.current judges.
func (h *reportHead) result() *protocol.RunResult {
	return &protocol.RunResult{RunID: h.RunID, Host: h.Host, Revision: h.Revision, FinishedAt: h.FinishedAt}
}

func (h *reportHead) failed() bool { return h.Report != nil && h.Report.Failed }

// reportHeads reads the heads of every stored report of rev, by host. A
// record that does not decode, or is not of its key, is left out: it is
// asked again.
func (s *store) reportHeads(ctx context.Context, rev string) (map[string]*reportHead, error) {
	out := map[string]*reportHead{}
	err := each(ctx, s.reports, rev+".>", func(key string, value []byte) error {
		var h reportHead
		if bus.Unmarshal(value, &h) == nil && h.Revision == rev && reportKey(rev, h.Host) == key {
			out[h.Host] = &h
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("stored reports of %s: %w", protocol.Short(rev), err)
	}
	return out, nil
}

// reportsOf reads every stored report of rev, by host.
func (s *store) reportsOf(ctx context.Context, rev string) (map[string]*protocol.RunResult, error) {
	out := map[string]*protocol.RunResult{}
	err := each(ctx, s.reports, rev+".>", func(key string, value []byte) error {
		var r protocol.RunResult
		if bus.Unmarshal(value, &r) == nil && r.Revision == rev && reportKey(rev, r.Host) == key {
			out[r.Host] = &r
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("stored reports of %s: %w", protocol.Short(rev), err)
	}
	return out, nil
}

// NeedsBucket is the nooper's own bucket (streams.yaml) of each
// collection's runs per host, under <commit>.<host>: a host's needs are
// written when it is asked, so that a restarted nooper knows what it
// asked, and the collection's record does not grow with the fleet nor is
// rewritten on every run.
const NeedsBucket = "noop_needs"

// storedNeeds is one host's needs in one collection.
type storedNeeds struct {
	Schema int `msgpack:"schema"`
	// RunTag is the collection's run tag when they were written: needs
	// of an earlier tag (before a re-noop) are not the collection's any
	// more.
	RunTag string `msgpack:"run_tag"`
	Needs  []Need `msgpack:"needs"`
}

func needsKey(sha, host string) string { return sha + "." + host }

// hostNeeds is a host's needs to store.
type hostNeeds struct {
	sha, host string
	stored    storedNeeds
}

// saveNeeds writes hosts' needs together, with a bounded number of
// writes in flight. It returns the ones that failed.
func (s *store) saveNeeds(ctx context.Context, conn *bus.Conn, all []hostNeeds) ([]hostNeeds, error) {
	msgs := make([]bus.Outgoing, len(all))
	for i := range all {
		all[i].stored.Schema = protocol.SchemaVersion
		msgs[i] = bus.Outgoing{Subject: "$KV." + NeedsBucket + "." + needsKey(all[i].sha, all[i].host), Value: &all[i].stored}
	}
	var failed []hostNeeds
	var first error
	for i, err := range conn.PublishAll(ctx, msgs, 0) {
		if err != nil {
			failed = append(failed, all[i])
			first = cmp.Or(first, err)
		}
	}
	if first != nil {
		return failed, fmt.Errorf("store the runs of %d hosts: %w", len(failed), first)
	}
	return nil, nil
}

// loadNeeds reads the stored needs of the collection of sha, by host.
func (s *store) loadNeeds(ctx context.Context, sha string) (map[string]storedNeeds, error) {
	out := map[string]storedNeeds{}
	err := each(ctx, s.needs, sha+".>", func(key string, value []byte) error {
		var st storedNeeds
		if bus.Unmarshal(value, &st) != nil {
			return nil // asked again
		}
		host := key[len(sha)+1:]
		for _, n := range st.Needs {
			if n.Host != host {
				return nil // not this key's: asked again
			}
		}
		out[host] = st
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("stored runs of %s: %w", protocol.Short(sha), err)
	}
	return out, nil
}

// answer marks the needs of c that a stored report answers, as a resumed
// collection's first step does: which needs were answered is not stored,
// the reports are.
func (s *store) answer(ctx context.Context, c *Collection) error {
	heads := map[string]map[string]*reportHead{}
	for i := range c.Needs {
		need := &c.Needs[i]
		found, ok := heads[need.Revision]
		if !ok {
			var err error
			if found, err = s.reportHeads(ctx, need.Revision); err != nil {
				return err
			}
			heads[need.Revision] = found
		}
		if r := found[need.Host]; r != nil && c.current(need, r.result()) {
			need.Answered, need.Failed = true, r.failed()
		}
	}
	return nil
}
