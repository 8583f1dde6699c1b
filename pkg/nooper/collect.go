package nooper

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/balcony-dev/balcony/pkg/protocol"
	"github.com/balcony-dev/balcony/pkg/review"
	"github.com/balcony-dev/balcony/pkg/runs"
)

// step advances every active collection: reuses stored reports, asks hosts
// for the noops still missing, asks again those past their run's deadline,
// extends a host's baseline when its parent noop failed, announces
// progress, and finishes the collections that are complete or out of time.
//
// Its decisions are made under n.mu on memory only. What they need from
// the bus or send to it (stored reports, runs, records, announcements) is
// done outside it, in batches: report intake and the services' requests
// never wait for a step's I/O, and a fleet's runs cost one synced write
// each, not one round trip each.
func (n *Nooper) step(ctx context.Context) {
	now := n.opts.Now().UTC()
	n.renoopApplied(ctx, now)
	n.lookUp(ctx)
	n.mu.Lock()
	w := n.plan(now)
	n.mu.Unlock()
	n.execute(ctx, w)
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

// done forgets the collection of sha, finished. n.mu must be held.
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

// lookUp answers, from the reports bucket, the needs never asked (a
// report another collection or an earlier push got, the parent's above
// all) and, once after a restart, every unanswered one (a report that
// arrived after the last save). Each revision's reports are read at
// once, outside the lock.
func (n *Nooper) lookUp(ctx context.Context) {
	n.mu.Lock()
	revs := map[string]bool{}
	var cols []*Collection
	for _, c := range n.active {
		if c.State != StateCollecting || c.looked || c.starting {
			continue
		}
		cols = append(cols, c)
		for _, need := range c.Needs {
			if n.toLookUp(c, &need) {
				revs[need.Revision] = true
			}
		}
	}
	n.mu.Unlock()
	if len(cols) == 0 {
		return
	}
	heads := make(map[string]map[string]*reportHead, len(revs))
	for rev := range revs {
		h, err := n.store.reportHeads(ctx, rev)
		if err != nil {
			n.log.Warn().Err(err).Msg("looking for stored reports; trying again")
			return
		}
		heads[rev] = h
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, c := range cols {
		if n.active[c.Commit.SHA] != c {
			continue // finished, or replaced by a re-noop, meanwhile
		}
		complete := true
		for i := range c.Needs {
			need := &c.Needs[i]
			if !n.toLookUp(c, need) {
				continue
			}
			found, ok := heads[need.Revision]
			if !ok {
				complete = false // added meanwhile: at the next step
				continue
			}
			if r := found[need.Host]; r != nil && c.current(need, r.result()) {
				need.Answered, need.Failed = true, r.failed()
			}
		}
		if complete {
			c.looked = true
			delete(n.recheck, c.Commit.SHA)
		}
	}
}

// toLookUp tells whether need is looked for in the reports bucket before
// it is asked. n.mu must be held.
func (n *Nooper) toLookUp(c *Collection, need *Need) bool {
	return !need.Answered && (need.Attempts == 0 || n.recheck[c.Commit.SHA])
}

// work is what a step does outside the lock, as planned under it.
type work struct {
	asks []ask
	// events are progress announcements.
	events []announcement
	// records are collections whose record (not their needs) changed:
	// snapshots to store.
	records []*Collection
	// parents are commits whose first parent a baseline extension needs.
	parents []string
	// finish are the collections complete, to compute; settle those
	// computed, to store and announce.
	finish []*finishing
	settle []*Collection
}

// ask is one run to publish: the need's attempt recorded in collection
// c, and the need as it was before, to take it back if publishing fails.
type ask struct {
	c      *Collection
	req    protocol.RunRequest
	before Need
}

type announcement struct {
	id string
	ev protocol.Event
}

// plan decides the step's work. n.mu must be held; it does no I/O.
func (n *Nooper) plan(now time.Time) *work {
	w := &work{}
	for _, c := range n.ordered() {
		switch {
		case c.State == StateReady: // computed, not yet stored or announced
			w.settle = append(w.settle, c)
			continue
		case c.starting || !c.looked:
			continue // stored first; its stored reports looked for first
		}
		extended := n.advance(c, now, w)
		if extended {
			w.records = append(w.records, c.header())
		}
		n.progress(c, now, w)
		if n.complete(c, now) {
			w.finish = append(w.finish, c.finishing())
		}
	}
	return w
}

// advance asks (in w) every need of c that is due, reusing another
// collection's run where one is asked, and extends baselines. It tells
// whether c's record changed. n.mu must be held.
func (n *Nooper) advance(c *Collection, now time.Time, w *work) bool {
	extended := n.extendBaselines(c, w)
	if now.After(c.Deadline) {
		return extended
	}
	for i := range c.Needs {
		need := &c.Needs[i]
		if !need.Due(now, n.opts.MaxAttempts) {
			continue
		}
		if n.adopt(c, need, now) {
			c.dirty(need.Host)
			continue
		}
		before := *need
		w.asks = append(w.asks, ask{c: c, req: n.asker.Request(need, c.RunTag, now, nil), before: before})
	}
	return extended
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

// extendBaselines adds, for each host whose noops of every commit in the
// chain so far failed, a need for the next earlier first-parent commit, up
// to BaselineDepth commits back. A parent not yet read from the
// repository is asked for in w, and the chain extended at the next step.
// n.mu must be held.
func (n *Nooper) extendBaselines(c *Collection, w *work) bool {
	if len(c.Chain) == 0 || !slices.ContainsFunc(c.Needs, func(n Need) bool { return n.Failed }) {
		return false // nothing failed: nothing to extend, and no host to walk
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
			parent, known := n.parents[last]
			if !known {
				if !slices.Contains(w.parents, last) {
					w.parents = append(w.parents, last)
				}
				continue
			}
			if parent == "" {
				continue // a root commit
			}
			c.Chain = append(c.Chain, parent)
			changed = true
		}
		for _, rev := range c.Chain {
			if c.need(host, rev) == nil {
				c.Needs = append(c.Needs, Need{Host: host, Revision: rev})
				c.looked, changed = false, true
			}
		}
	}
	return changed
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
// plans its announcement: the first count, then at most every
// progressEvery, and the last. n.mu must be held.
func (n *Nooper) progress(c *Collection, now time.Time, w *work) {
	p := c.Progress()
	n.liveMu.Lock()
	n.live[c.Commit.SHA] = p
	n.liveMu.Unlock()
	last, ok := n.lastProgress[c.Commit.SHA]
	if ok && (last.answered == p.Answered || p.Answered < p.Hosts && now.Sub(last.at) < progressEvery) {
		return
	}
	n.lastProgress[c.Commit.SHA] = progressMark{answered: p.Answered, at: now}
	w.events = append(w.events, announcement{
		id: fmt.Sprintf("noop.progress:%s:%d:%d", c.Commit.SHA, c.Generation, p.Answered),
		ev: protocol.Event{
			Type: "noop.progress", Repo: c.Repo, Commit: c.Commit.SHA,
			Text: fmt.Sprintf("noop of %s: %s", protocol.Short(c.Commit.SHA), p),
			Data: map[string]any{"answered": p.Answered, "hosts": p.Hosts, "missing": p.Missing},
		},
	})
}

type progressMark struct {
	answered int
	at       time.Time
}

// execute does a step's work, outside the lock.
func (n *Nooper) execute(ctx context.Context, w *work) {
	n.publishRuns(ctx, w.asks)
	n.saveDirty(ctx)
	for _, rec := range w.records {
		if err := n.store.saveCollection(ctx, rec); err != nil {
			n.log.Warn().Err(err).Str("commit", rec.Commit.SHA).Msg("saving a noop collection")
		}
	}
	n.readParents(w.parents)
	for _, a := range w.events {
		n.announce(ctx, a.id, a.ev)
	}
	for _, f := range w.finish {
		if ctx.Err() != nil {
			return
		}
		if err := n.finish(ctx, f); err != nil {
			n.log.Warn().Err(err).Str("commit", f.snap.Commit.SHA).Msg("finishing a noop collection")
		}
	}
	for _, c := range w.settle {
		if ctx.Err() != nil {
			return
		}
		if err := n.settle(ctx, c); err != nil {
			n.log.Warn().Err(err).Str("commit", c.Commit.SHA).Msg("storing or announcing a finished noop")
		}
	}
}

// publishRuns publishes the planned runs together; those that failed are
// taken back, to be asked at the next step.
func (n *Nooper) publishRuns(ctx context.Context, asks []ask) {
	if len(asks) == 0 {
		return
	}
	reqs := make([]protocol.RunRequest, len(asks))
	for i, a := range asks {
		reqs[i] = a.req
	}
	errs := n.asker.PublishAll(ctx, reqs)
	n.mu.Lock()
	failed := 0
	var records []*Collection
	for i, a := range asks {
		need := a.c.need(a.req.Host, a.req.Revision)
		if need == nil {
			continue // the host's needs were reset meanwhile
		}
		if errs != nil && errs[i] != nil {
			runs.Undo(need, a.before, a.req.ID)
			if failed++; failed == 1 {
				n.log.Warn().Err(errs[i]).Msg("asking hosts for noops; trying again at the next step")
			}
			continue
		}
		if !a.c.firstAsk(a.req) {
			a.c.dirty(a.req.Host)
			continue
		}
		if a.c.FirstDeadline.IsZero() {
			a.c.FirstDeadline = a.req.Deadline
			records = append(records, a.c.header())
		}
	}
	n.mu.Unlock()
	if failed > 0 {
		n.log.Warn().Int("runs", failed).Int("asked", len(asks)).Msg("runs not published")
	}
	for _, rec := range records {
		if err := n.store.saveCollection(ctx, rec); err != nil {
			n.log.Warn().Err(err).Str("commit", rec.Commit.SHA).Msg("saving a noop collection")
		}
	}
}

// saveDirty stores the needs of the hosts asked since the last save.
func (n *Nooper) saveDirty(ctx context.Context) {
	n.mu.Lock()
	var all []hostNeeds
	for _, c := range n.active {
		all = append(all, c.takeDirty()...)
	}
	n.mu.Unlock()
	if len(all) == 0 {
		return
	}
	failed, err := n.store.saveNeeds(ctx, n.conn, all)
	if err == nil {
		return
	}
	n.log.Warn().Err(err).Msg("storing the runs asked; trying again at the next step")
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, f := range failed {
		if c := n.active[f.sha]; c != nil {
			c.dirty(f.host)
		}
	}
}

// readParents reads from the repository the first parents a baseline
// extension waits for, and wakes the next step to use them.
func (n *Nooper) readParents(shas []string) {
	if len(shas) == 0 {
		return
	}
	found := map[string]string{}
	for _, sha := range shas {
		c, err := n.commit(sha)
		if err != nil {
			n.log.Warn().Err(err).Str("commit", sha).Msg("reading a commit's parent for a host's baseline")
			continue
		}
		found[sha] = ""
		if c != nil && len(c.Parents) > 0 {
			found[sha] = c.Parents[0]
		}
	}
	n.mu.Lock()
	for sha, p := range found {
		n.parents[sha] = p
	}
	n.mu.Unlock()
	signal(n.wake)
}

func (n *Nooper) announce(ctx context.Context, id string, ev protocol.Event) {
	ev.Service = "nooper"
	if err := n.conn.Announce(ctx, id, ev); err != nil {
		n.log.Warn().Err(err).Str("event", ev.Type).Msg("announce")
	}
}
