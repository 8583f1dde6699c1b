package nooper

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/gitrepo"
	"github.com/balcony-dev/balcony/pkg/protocol"
)

// After an apply, a host's noops taken before it are stale: the host is
// not in the state they were taken in. The nooper follows the hosts
// bucket, where the applier records each host's last applied revision and
// when (LastApplied, AppliedAt), and re-noops that host in the collection
// of every commit after the applied one on the branch's first-parent
// chain, finished or still collecting. Collections of the applied commit
// and of earlier ones are left alone: nothing will apply them any more.
//
// It is level-triggered: a collection keeps, per host, the AppliedAt it
// last took into account, and any host whose record shows a later one is
// re-nooped there, whenever the nooper looks: at start (the watch's
// initial values) and on every change. A restart misses nothing and
// repeats nothing.

// appliedDepth bounds the walk down a branch from its tip looking for the
// revisions hosts applied. A host whose applied revision is not that
// close to a branch's tip has nothing re-nooped on that branch (its
// later noops are then as old as its apply, or the revision is on
// another branch); the collections begun after its apply never use its
// reports from before it anyway.
const appliedDepth = 500

// appliedMark is a host's last apply as its record shows it.
type appliedMark struct {
	rev string
	at  time.Time
}

// applied is what the watch of the hosts bucket found: each host's last
// apply, and the hosts whose apply changed since the last re-noop pass.
// It has its own lock: the watch never waits for a step.
type applied struct {
	mu      sync.Mutex
	last    map[string]appliedMark
	pending map[string]bool
}

// note records host's last apply; it tells whether it changed.
func (a *applied) note(host string, m appliedMark) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if old, ok := a.last[host]; ok && old.rev == m.rev && old.at.Equal(m.at) {
		return false
	}
	if a.last == nil {
		a.last, a.pending = map[string]appliedMark{}, map[string]bool{}
	}
	a.last[host], a.pending[host] = m, true
	return true
}

// take returns the pending hosts with their last apply and forgets them.
func (a *applied) take() map[string]appliedMark {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.pending) == 0 {
		return nil
	}
	out := make(map[string]appliedMark, len(a.pending))
	for h := range a.pending {
		out[h] = a.last[h]
	}
	clear(a.pending)
	return out
}

// retry makes hosts pending again, after a pass that failed.
func (a *applied) retry(hosts map[string]appliedMark) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for h := range hosts {
		a.pending[h] = true
	}
}

// watchApplied follows the hosts bucket until ctx is done: its current
// records first, then every change. Heartbeats change records all the
// time; only a host's last apply matters here, and its last heartbeat
// for the hosts metrics (fleet).
func (n *Nooper) watchApplied(ctx context.Context, wg *sync.WaitGroup) error {
	w, err := n.store.hosts.WatchAll(ctx)
	if err != nil {
		return fmt.Errorf("watch the hosts bucket: %w", err)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer w.Stop() //nolint:errcheck // nothing to do about it
		for {
			select {
			case <-ctx.Done():
				return
			case e, ok := <-w.Updates():
				if !ok {
					return
				}
				if e == nil { // the initial values are all in
					continue
				}
				if e.Operation() != jetstream.KeyValuePut {
					n.fleet.forget(e.Key())
					continue
				}
				var h protocol.HostInfo
				if err := bus.Unmarshal(e.Value(), &h); err != nil || h.Host != e.Key() {
					continue
				}
				n.fleet.note(h.Host, h.Seen)
				if h.AppliedAt.IsZero() {
					continue
				}
				if n.applied.note(h.Host, appliedMark{rev: h.LastApplied, at: h.AppliedAt}) {
					signal(n.wake)
				}
			}
		}
	}()
	return nil
}

// renoopApplied re-noops the hosts whose last apply changed in the
// collections after their applied revisions. All the hosts that changed
// since the last pass are handled together: a collection is re-nooped
// once for all of them. A failed pass is tried again at the next step.
// It runs in the step, and takes n.mu itself.
func (n *Nooper) renoopApplied(ctx context.Context, now time.Time) {
	hosts := n.applied.take()
	if len(hosts) == 0 {
		return
	}
	if err := n.renoopAfter(ctx, hosts, now); err != nil {
		n.log.Warn().Err(err).Int("hosts", len(hosts)).Msg("re-nooping hosts after their apply; trying again")
		n.applied.retry(hosts)
	}
}

func (n *Nooper) renoopAfter(ctx context.Context, hosts map[string]appliedMark, now time.Time) error {
	after := map[string]map[string]appliedMark{} // by commit, the hosts to re-noop
	found := map[string]bool{}
	for _, branch := range n.opts.Branches {
		if err := n.commitsAfter(branch, hosts, after, found); err != nil {
			return err
		}
	}
	for h, m := range hosts {
		if !found[h] && m.rev != "" {
			n.log.Info().Str("host", h).Str("applied", m.rev).Int("depth", appliedDepth).Msg("the revision the host applied is on no nooped branch's first-parent chain near its tip: no collection re-nooped for it")
		}
	}
	shas := make([]string, 0, len(after))
	for sha := range after {
		shas = append(shas, sha)
	}
	sort.Strings(shas)
	for _, sha := range shas {
		if err := n.renoopHosts(ctx, sha, after[sha], now); err != nil {
			return err
		}
	}
	return nil
}

// commitsAfter walks branch down from its tip, at most appliedDepth
// commits, and adds to after each commit above a host's applied revision,
// with that host; found gets the hosts whose revision it met.
func (n *Nooper) commitsAfter(branch string, hosts map[string]appliedMark, after map[string]map[string]appliedMark, found map[string]bool) error {
	waiting := map[string][]string{} // revision → hosts that applied it
	for h, m := range hosts {
		if m.rev != "" {
			waiting[m.rev] = append(waiting[m.rev], h)
		}
	}
	tip, err := n.opts.Code.Commit("refs/heads/" + branch)
	if errors.Is(err, gitrepo.ErrUnknownRevision) {
		return nil // not in the mirror yet: nothing nooped on it
	}
	if err != nil {
		return fmt.Errorf("tip of %s: %w", branch, err)
	}
	var above []string // the commits walked, tip first
	for c := &tip; c != nil && len(above) < appliedDepth && len(waiting) > 0; {
		for _, h := range waiting[c.SHA] {
			found[h] = true
			for _, sha := range above {
				if after[sha] == nil {
					after[sha] = map[string]appliedMark{}
				}
				after[sha][h] = hosts[h]
			}
		}
		delete(waiting, c.SHA)
		above = append(above, c.SHA)
		if len(c.Parents) == 0 {
			break
		}
		if c, err = n.commit(c.Parents[0]); err != nil {
			return fmt.Errorf("first-parent chain of %s: %w", branch, err)
		}
	}
	return nil
}

// behind lists the hosts of applies the collection has not taken into
// account: hosts of the collection whose apply is later than the one it
// knows.
func (c *Collection) behind(hosts map[string]appliedMark) map[string]appliedMark {
	out := map[string]appliedMark{}
	for h, m := range hosts {
		if _, in := slices.BinarySearch(c.Hosts, h); in && c.AppliedAt[h].Before(m.at) {
			out[h] = m
		}
	}
	return out
}

// renoopHosts re-noops, in the collection of sha, the hosts whose apply
// it has not taken into account. A finished collection starts collecting
// again, as the next generation: its previous result stays readable until
// the new one is ready, then noop.ready is announced. One still collecting
// folds the hosts' needs back to unanswered and goes on, in the same
// generation: nothing of it was announced yet (or, during a re-noop, the
// generation's result is not). Either way its runs take a new tag, so that
// the new runs' ids are new. It runs in the step: what it reads from the
// store (a finished collection, the hosts' reports) it reads without the
// lock, which it takes only to change the collection.
func (n *Nooper) renoopHosts(ctx context.Context, sha string, hosts map[string]appliedMark, now time.Time) error {
	n.mu.Lock()
	c := n.active[sha]
	n.mu.Unlock()
	loaded := c == nil
	if loaded {
		// The record first: a finished noop's result, perhaps in the
		// object store, is read only when the noop is redone.
		rec, err := n.store.record(ctx, sha)
		if errors.Is(err, ErrUnknownCommit) {
			return nil // a commit not nooped
		}
		if err != nil {
			return err
		}
		if len(rec.behind(hosts)) == 0 {
			return nil
		}
		if c, err = n.store.collection(ctx, sha); err != nil {
			return err
		}
		if err = n.store.withNeeds(ctx, c); err != nil {
			return err
		}
	}
	// Only the step changes a collection's record fields (the lock
	// guards its needs): they are read here without it.
	stale := c.behind(hosts)
	if len(stale) == 0 {
		return nil
	}
	// Which of the hosts' reports were taken after their apply.
	fresh := map[needKey]bool{}
	for h, m := range stale {
		for _, rev := range append([]string{sha, m.rev}, c.Chain...) {
			if rev == "" || fresh[needKey{h, rev}] {
				continue
			}
			r, err := n.store.report(ctx, rev, h)
			if err != nil {
				return err
			}
			fresh[needKey{h, rev}] = r != nil && r.FinishedAt.After(m.at)
		}
	}
	n.mu.Lock()
	if active := n.active[sha]; active != nil && active != c {
		n.mu.Unlock()
		return nil // re-nooped meanwhile: it took the hosts' records as they are
	}
	names := make([]string, 0, len(stale))
	for h, m := range stale {
		n.refreshHost(c, h, m, fresh)
		names = append(names, h)
	}
	sort.Strings(names)
	restart := c.State != StateCollecting
	c.RunTag = "r" + nuid.Next()
	// The runs asked so far are stored under the new tag: their ids no
	// longer follow from it (FirstDeadline).
	for _, need := range c.Needs {
		if need.Attempts > 0 {
			c.dirty(need.Host)
		}
	}
	c.Deadline = later(c.Deadline, now.Add(n.opts.CollectionTimeout))
	if restart {
		c.Generation++
		c.State, c.Started, c.Finished = StateCollecting, now, time.Time{}
		c.Announced, c.unsaved, c.announcedID = false, false, ""
	}
	if loaded {
		// Which of its needs were answered is not stored: the reports
		// say.
		n.recheck[sha] = true
	}
	c.starting = true // stored before a step uses it
	n.active[sha] = c
	delete(n.lastProgress, sha)
	rec := c.header()
	n.mu.Unlock()
	err := n.store.saveCollection(ctx, rec)
	n.mu.Lock()
	c.starting = false
	if err != nil && loaded {
		delete(n.active, sha) // tried again: the hosts stay pending
	}
	n.mu.Unlock()
	if err != nil {
		return err
	}
	n.log.Info().Str("commit", sha).Int("generation", c.Generation).Strs("hosts", names).Bool("restarted", restart).Msg("re-noop of hosts after their apply")
	if restart {
		n.announce(ctx, fmt.Sprintf("noop.started:%s:%d", sha, c.Generation), protocol.Event{
			Type: "noop.started", Repo: c.Repo, Commit: sha,
			Text: fmt.Sprintf("re-nooping %s %q on %d hosts after their apply", protocol.Short(sha), c.Commit.Subject, len(names)),
			Data: map[string]any{"hosts": len(c.Hosts), "branch": c.Branch, "generation": c.Generation, "applied": names},
		})
	}
	return nil
}

// refreshHost takes host's apply m into c: the applied revision becomes
// the host's drift baseline, and each of the host's needs whose report is
// from before the apply (fresh says which are not) is asked anew. The
// runs it forgets are kept a while, so that their late answers are still
// taken in (stored, if newer than what is), without answering anything.
// n.mu must be held.
func (n *Nooper) refreshHost(c *Collection, host string, m appliedMark, fresh map[needKey]bool) {
	if c.AppliedAt == nil {
		c.AppliedAt = map[string]time.Time{}
	}
	if c.LastApplied == nil {
		c.LastApplied = map[string]string{}
	}
	old := c.LastApplied[host]
	c.AppliedAt[host] = m.at
	if m.rev != "" {
		c.LastApplied[host] = m.rev
	} else {
		delete(c.LastApplied, host)
	}
	uses := func(rev string) bool { return rev == c.Commit.SHA || rev == m.rev || slices.Contains(c.Chain, rev) }
	needs := c.Needs[:0]
	for _, need := range c.Needs {
		if need.Host == host {
			if need.Revision == old && !uses(old) {
				n.forgetRuns(need)
				continue // the previous baseline
			}
			if !need.Answered || !fresh[needKey{host, need.Revision}] {
				n.forgetRuns(need)
				need = Need{Host: host, Revision: need.Revision}
			}
		}
		needs = append(needs, need)
	}
	c.Needs, c.index = needs, nil
	if m.rev != "" && c.need(host, m.rev) == nil {
		c.Needs = append(c.Needs, Need{Host: host, Revision: m.rev})
	}
	// Its reports taken since the apply count: looked for first.
	c.looked = false
	c.dirty(host)
}

// forgetRuns keeps the runs of a need no longer waited for among the
// recent ones, until a run timeout past its deadline. n.mu must be held.
func (n *Nooper) forgetRuns(need Need) {
	for _, id := range need.Runs {
		n.recent[id] = askedRun{host: need.Host, rev: need.Revision, until: need.Deadline.Add(n.opts.RunTimeout)}
	}
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
