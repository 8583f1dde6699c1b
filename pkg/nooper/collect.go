package nooper

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/balcony-dev/balcony/pkg/delta"
	"github.com/balcony-dev/balcony/pkg/protocol"
	"github.com/balcony-dev/balcony/pkg/review"
)

// step advances every active collection: reuses stored reports, asks hosts
// for the noops still missing, asks again those past their run's deadline,
// extends a host's baseline when its parent noop failed, announces
// progress, and finishes the collections that are complete or out of time.
func (n *Nooper) step(ctx context.Context) {
	n.mu.Lock()
	defer n.mu.Unlock()
	now := n.opts.Now().UTC()
	n.renoopApplied(ctx, now)
	for _, c := range n.ordered() {
		if ctx.Err() != nil {
			return
		}
		sha := c.Commit.SHA
		if c.State == StateReady { // computed, not yet stored or announced
			if err := n.settle(ctx, c); err != nil {
				n.log.Warn().Err(err).Str("commit", sha).Msg("storing or announcing a finished noop")
				continue
			}
			n.done(sha)
			continue
		}
		changed, err := n.advance(ctx, c, now)
		if err != nil {
			n.log.Warn().Err(err).Str("commit", sha).Msg("advancing a noop collection")
			continue
		}
		n.progress(ctx, c, now)
		if n.complete(c, now) {
			if err := n.finish(ctx, c, now); err != nil {
				n.log.Warn().Err(err).Str("commit", sha).Msg("finishing a noop collection")
				continue
			}
			n.done(sha)
			continue
		}
		if changed {
			if err := n.store.saveCollection(ctx, c); err != nil {
				n.log.Warn().Err(err).Str("commit", sha).Msg("saving a noop collection")
			}
		}
	}
}

// ordered lists the active collections oldest first, so that commits are
// nooped and announced in the order they were pushed.
func (n *Nooper) ordered() []*Collection {
	cs := make([]*Collection, 0, len(n.active))
	for _, c := range n.active {
		cs = append(cs, c)
	}
	sort.Slice(cs, func(i, j int) bool {
		if !cs[i].Started.Equal(cs[j].Started) {
			return cs[i].Started.Before(cs[j].Started)
		}
		return cs[i].Commit.Time.Before(cs[j].Commit.Time)
	})
	return cs
}

func (n *Nooper) done(sha string) {
	n.rememberRuns(n.active[sha])
	delete(n.active, sha)
	delete(n.lastProgress, sha)
	delete(n.recheck, sha)
	n.liveMu.Lock()
	delete(n.live, sha)
	n.liveMu.Unlock()
}

// liveProgress is the progress of the active collection of sha as of the
// last step.
func (n *Nooper) liveProgress(sha string) (review.Progress, bool) {
	n.liveMu.Lock()
	defer n.liveMu.Unlock()
	p, ok := n.live[sha]
	return p, ok
}

func (n *Nooper) advance(ctx context.Context, c *Collection, now time.Time) (changed bool, err error) {
	for i := range c.Needs {
		need := &c.Needs[i]
		if need.Answered {
			continue
		}
		if need.RunID == "" || need.Attempts == 0 || n.recheck[c.Commit.SHA] {
			// Reuse a report another collection, or an earlier push, got;
			// after a restart, one that arrived after the last save.
			r, err := n.store.report(ctx, need.Revision, need.Host)
			if err != nil {
				return changed, err
			}
			if r != nil && c.current(need, r) {
				need.Answered, need.Failed, changed = true, r.Report != nil && r.Report.Failed, true
				continue
			}
		}
		if !need.Due(now, n.opts.MaxAttempts) || now.After(c.Deadline) {
			continue
		}
		if n.adopt(c, need, now) {
			changed = true
			continue
		}
		if err := n.request(ctx, c, need, now); err != nil {
			return changed, err
		}
		changed = true
	}
	delete(n.recheck, c.Commit.SHA)
	extended, err := n.extendBaselines(ctx, c)
	return changed || extended, err
}

// adopt reuses a run another active collection already asked for the same
// host and revision, so that a push of several commits asks each host
// once per revision.
func (n *Nooper) adopt(c *Collection, need *Need, now time.Time) bool {
	for _, other := range n.active {
		if other == c {
			continue
		}
		o := other.need(need.Host, need.Revision)
		// Only from a collection that knows of the host's last apply:
		// another's answer may be from before it.
		if other.AppliedAt[need.Host].Before(c.AppliedAt[need.Host]) {
			continue
		}
		if o != nil && o.RunID != "" && (o.Answered || now.Before(o.Deadline)) && o.Attempts > need.Attempts {
			need.RunID, need.Attempts, need.Deadline, need.Answered, need.Failed = o.RunID, o.Attempts, o.Deadline, o.Answered, o.Failed
			for _, id := range o.Runs {
				if !slices.Contains(need.Runs, id) {
					need.Runs = append(need.Runs, id)
				}
			}
			return true
		}
	}
	return false
}

func (n *Nooper) request(ctx context.Context, c *Collection, need *Need, now time.Time) error {
	_, err := n.asker.Ask(ctx, need, c.RunTag, now, nil)
	return err
}

// extendBaselines adds, for each host whose noops of every commit in the
// chain so far failed, a need for the next earlier first-parent commit, up
// to BaselineDepth commits back.
func (n *Nooper) extendBaselines(ctx context.Context, c *Collection) (bool, error) {
	if len(c.Chain) == 0 || !slices.ContainsFunc(c.Needs, func(n Need) bool { return n.Failed }) {
		return false, nil // nothing failed: nothing to extend, and no host to walk
	}
	changed := false
	for _, host := range c.Hosts {
		last := ""
		for _, rev := range c.Chain {
			need := c.need(host, rev)
			if need == nil || !need.Answered || !need.Failed {
				last = ""
				break
			}
			last = rev
		}
		if last == "" {
			continue
		}
		// Every revision tried so far failed on host: go one further back.
		idx := len(c.Chain) - 1
		if c.Chain[idx] == last && len(c.Chain) < n.opts.BaselineDepth {
			prev, err := n.commit(last)
			if err != nil {
				return changed, err
			}
			if prev == nil || len(prev.Parents) == 0 {
				continue
			}
			c.Chain = append(c.Chain, prev.Parents[0])
			changed = true
		}
		for _, rev := range c.Chain {
			if c.need(host, rev) == nil {
				c.Needs = append(c.Needs, Need{Host: host, Revision: rev})
				changed = true
			}
		}
	}
	return changed, nil
}

// complete tells whether the collection can be finished: everything
// answered, or nothing more to wait for.
func (n *Nooper) complete(c *Collection, now time.Time) bool {
	if now.After(c.Deadline) {
		return true
	}
	for _, need := range c.Needs {
		if !need.Answered && !need.Exhausted(now, n.opts.MaxAttempts) {
			return false
		}
	}
	return true
}

// progressEvery spaces progress announcements: a fleet answering at once
// would otherwise make one event per host.
const progressEvery = 2 * time.Second

// progress records how many hosts have answered for the show service and
// announces it: the first count, then at most every progressEvery, and
// the last.
func (n *Nooper) progress(ctx context.Context, c *Collection, now time.Time) {
	p := c.Progress()
	n.liveMu.Lock()
	n.live[c.Commit.SHA] = p
	n.liveMu.Unlock()
	last, ok := n.lastProgress[c.Commit.SHA]
	if ok && (last.answered == p.Answered || p.Answered < p.Hosts && now.Sub(last.at) < progressEvery) {
		return
	}
	n.lastProgress[c.Commit.SHA] = progressMark{answered: p.Answered, at: now}
	n.announce(ctx, fmt.Sprintf("noop.progress:%s:%d:%d", c.Commit.SHA, c.Generation, p.Answered), protocol.Event{
		Type: "noop.progress", Repo: c.Repo, Commit: c.Commit.SHA,
		Text: fmt.Sprintf("noop of %s: %s", protocol.Short(c.Commit.SHA), p),
		Data: map[string]any{"answered": p.Answered, "hosts": p.Hosts, "missing": p.Missing},
	})
}

type progressMark struct {
	answered int
	at       time.Time
}

// finish computes the delta from the stored reports, saves it and
// announces it.
func (n *Nooper) finish(ctx context.Context, c *Collection, now time.Time) error {
	inputs := make([]delta.HostInput, 0, len(c.Hosts))
	for _, host := range c.Hosts {
		in := delta.HostInput{Host: host}
		r, err := n.currentReport(ctx, c, c.Commit.SHA, host)
		if err != nil {
			return err
		}
		if r != nil {
			in.Commit = r.Report
		}
		for _, rev := range c.Chain {
			b, err := n.currentReport(ctx, c, rev, host)
			if err != nil {
				return err
			}
			base := delta.Baseline{Revision: rev}
			if b != nil {
				base.Report = b.Report
			}
			in.Baselines = append(in.Baselines, base)
		}
		if rev := c.LastApplied[host]; rev != "" {
			b, err := n.currentReport(ctx, c, rev, host)
			if err != nil {
				return err
			}
			if b != nil {
				in.LastApplied = &delta.Baseline{Revision: rev, Report: b.Report}
			}
		}
		inputs = append(inputs, in)
	}
	res := delta.Compute(c.Commit.SHA, c.Parent(), inputs, n.opts.Delta)
	c.Result, c.State, c.Finished, c.Announced = res, StateReady, now, false
	c.unsaved, c.announcedID = true, ""
	n.log.Info().Str("commit", c.Commit.SHA).Int("groups", len(res.Groups)).Int("unanswered", len(res.Unanswered)).Float64("took_seconds", now.Sub(c.Started).Seconds()).Msg("noop ready")
	return n.settle(ctx, c)
}

// currentReport is the stored report of rev on host when c can use it
// (Collection.current); nil when there is none, or only a stale one.
func (n *Nooper) currentReport(ctx context.Context, c *Collection, rev, host string) (*protocol.RunResult, error) {
	r, err := n.store.report(ctx, rev, host)
	if err != nil || r == nil || !c.current(c.need(host, rev), r) {
		return nil, err
	}
	return r, nil
}

// settle stores a finished collection, then announces it on noop.ready
// and records that it did; until then the collection stays active (and
// is resumed after a restart), so the approver never misses a finished
// noop. Each step is done once: a failure (a store that refuses the
// result) is retried at the next step from where it stopped, so that
// noop.ready reaches live subscribers once per result, not once per
// retry. (Its message id also keeps it once in EVENTS across restarts.)
func (n *Nooper) settle(ctx context.Context, c *Collection) error {
	if c.unsaved {
		if err := n.store.saveCollection(ctx, c); err != nil {
			return err
		}
		c.unsaved = false
	}
	if id := readyID(c); c.announcedID != id {
		if err := n.announceReady(ctx, c, id); err != nil {
			return err
		}
		c.announcedID = id
	}
	c.Announced = true
	return n.store.saveCollection(ctx, c)
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
	text := fmt.Sprintf("noop of %s %q ready: %d change groups on %d hosts", protocol.Short(c.Commit.SHA), c.Commit.Subject, len(res.Groups), len(c.Hosts))
	if len(res.Unanswered) > 0 {
		text += fmt.Sprintf(", %d hosts did not answer", len(res.Unanswered))
	}
	if len(res.Errors) > 0 {
		text += fmt.Sprintf(", %d errors", len(res.Errors))
	}
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

func (n *Nooper) announce(ctx context.Context, id string, ev protocol.Event) {
	ev.Service = "nooper"
	if err := n.conn.Announce(ctx, id, ev); err != nil {
		n.log.Warn().Err(err).Str("event", ev.Type).Msg("announce")
	}
}
