package nooper

import (
	"context"
	"fmt"

	"github.com/balcony-dev/balcony/pkg/delta"
	"github.com/balcony-dev/balcony/pkg/protocol"
	"github.com/balcony-dev/balcony/pkg/review"
)

// finishing is a complete collection as the step that finishes it saw
// it: its record and a copy of its needs, read without the lock while
// the delta is computed.
type finishing struct {
	c    *Collection
	snap *Collection
}

// finishing snapshots c for finish. n.mu must be held.
func (c *Collection) finishing() *finishing {
	snap := c.header()
	snap.Needs = append([]Need(nil), c.Needs...)
	return &finishing{c: c, snap: snap}
}

// finish reads the collection's reports, computes the delta, keeps it in
// the collection (unless a re-noop replaced the collection meanwhile)
// and stores and announces it (settle).
func (n *Nooper) finish(ctx context.Context, f *finishing) error {
	c := f.snap
	res, err := n.compute(ctx, c)
	if err != nil {
		return err
	}
	now := n.opts.Now().UTC()
	n.mu.Lock()
	live := f.c
	if n.active[c.Commit.SHA] != live || live.RunTag != c.RunTag || live.State != StateCollecting {
		n.mu.Unlock()
		return nil // re-nooped meanwhile: the next step finishes it anew
	}
	live.Result, live.State, live.Finished, live.Announced = res, StateReady, now, false
	live.unsaved, live.announcedID = true, ""
	n.mu.Unlock()
	for _, need := range c.Needs {
		if !need.Answered && len(need.Runs) > 0 {
			n.asker.Expired() // asked, and given up on
		}
	}
	n.metrics.observeCollection(now.Sub(c.Started), len(res.Unanswered))
	n.log.Info().Str("commit", c.Commit.SHA).Int("groups", len(res.Groups)).Int("unanswered", len(res.Unanswered)).Float64("took_seconds", now.Sub(c.Started).Seconds()).Msg("noop ready")
	return n.settle(ctx, live)
}

// compute is the delta of the snapshot c from its stored reports: each
// revision's reports are read at once.
func (n *Nooper) compute(ctx context.Context, c *Collection) (*delta.Result, error) {
	byRev := map[string]map[string]*protocol.RunResult{}
	reports := func(rev, host string) (*protocol.RunResult, error) {
		all, ok := byRev[rev]
		if !ok {
			var err error
			if all, err = n.store.reportsOf(ctx, rev); err != nil {
				return nil, err
			}
			byRev[rev] = all
		}
		r := all[host]
		if r == nil || !c.current(c.need(host, rev), r) {
			return nil, nil
		}
		return r, nil
	}
	inputs := make([]delta.HostInput, 0, len(c.Hosts))
	for _, host := range c.Hosts {
		in := delta.HostInput{Host: host}
		r, err := reports(c.Commit.SHA, host)
		if err != nil {
			return nil, err
		}
		if r != nil {
			in.Commit = r.Report
		}
		for _, rev := range c.Chain {
			b, err := reports(rev, host)
			if err != nil {
				return nil, err
			}
			base := delta.Baseline{Revision: rev}
			if b != nil {
				base.Report = b.Report
			}
			in.Baselines = append(in.Baselines, base)
		}
		if rev := c.LastApplied[host]; rev != "" {
			b, err := reports(rev, host)
			if err != nil {
				return nil, err
			}
			if b != nil {
				in.LastApplied = &delta.Baseline{Revision: rev, Report: b.Report}
			}
		}
		inputs = append(inputs, in)
	}
	return delta.Compute(c.Commit.SHA, c.Parent(), inputs, n.opts.Delta), nil
}

// settle stores a finished collection, then announces it on noop.ready
// and records that it did; until then the collection stays active (and
// is resumed after a restart), so the approver never misses a finished
// noop. Each step is done once: a failure (a store that refuses the
// result) is retried at the next step from where it stopped, so that
// noop.ready reaches live subscribers once per result, not once per
// retry. (Its message id also keeps it once in EVENTS across restarts.)
// It runs in the step, outside the lock, on a snapshot of c.
func (n *Nooper) settle(ctx context.Context, c *Collection) error {
	n.mu.Lock()
	snap, unsaved, id := c.header(), c.unsaved, readyID(c)
	announced := c.announcedID == id
	n.mu.Unlock()
	if unsaved {
		if err := n.store.saveCollection(ctx, snap); err != nil {
			return err
		}
		n.mu.Lock()
		c.unsaved, c.ResultObject = false, snap.ResultObject
		n.mu.Unlock()
	}
	if !announced {
		if err := n.announceReady(ctx, snap, id); err != nil {
			return err
		}
		n.mu.Lock()
		c.announcedID = id
		n.mu.Unlock()
	}
	snap.Announced = true
	if err := n.store.saveCollection(ctx, snap); err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	c.Announced, c.ResultObject = true, snap.ResultObject
	if n.active[c.Commit.SHA] == c && c.State == StateReady {
		n.done(c.Commit.SHA)
	}
	return nil
}

// readyID is the message id of the noop.ready announcement of c's result.
func readyID(c *Collection) string {
	return fmt.Sprintf("noop.ready:%s:%d:%s", c.Commit.SHA, c.Generation, c.Result.Digest())
}

// announceReady announces a finished collection on noop.ready with
// message id id.
func (n *Nooper) announceReady(ctx context.Context, c *Collection, id string) error {
	res := c.Result
	digest := res.Digest()
	// The summary says what a reader of one line needs first: how many
	// changes, on how many hosts, the outliers, the errors.
	text := fmt.Sprintf("noop of %s %q ready: %s", protocol.Short(c.Commit.SHA), c.Commit.Subject, review.Summarize(res))
	groups := make([]string, 0, len(res.Groups))
	for _, g := range res.Groups {
		groups = append(groups, g.ID)
	}
	return n.conn.Announce(ctx, id, protocol.Event{
		Type: "noop.ready", Repo: c.Repo, Commit: c.Commit.SHA, Text: text, Service: "nooper",
		Data: map[string]any{
			"branch": c.Branch, "groups": groups, "hosts": len(c.Hosts), "unanswered": res.Unanswered,
			"errors": len(res.Errors), "digest": digest, "took_seconds": c.Finished.Sub(c.Started).Seconds(), "generation": c.Generation,
		},
	})
}
