package nooper

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/protocol"
)

// onCommitEvent starts a collection for each new commit on the branch's
// first-parent chain. Side-branch commits of a merge are stored (their
// metadata) but not nooped alone: they are never applied alone.
func (n *Nooper) onCommitEvent(ctx context.Context, m jetstream.Msg) error {
	var ev protocol.CommitEvent
	if err := bus.Unmarshal(m.Data(), &ev); err != nil {
		return err
	}
	if !protocol.ValidSHA(ev.New) {
		return fmt.Errorf("%w: commit event for %s: new tip %q is not a sha", bus.ErrMalformed, ev.Ref, ev.New)
	}
	for _, c := range ev.Commits {
		if !protocol.ValidSHA(c.SHA) || slices.ContainsFunc(c.Parents, func(p string) bool { return !protocol.ValidSHA(p) }) {
			return fmt.Errorf("%w: commit event for %s: commit %q or its parents are not shas", bus.ErrMalformed, ev.Ref, c.SHA)
		}
	}
	if len(ev.Commits) == 0 {
		// A branch moved back to an ancestor: nothing new to noop.
		n.log.Info().Str("ref", ev.Ref).Str("new", ev.New).Msg("branch moved back; nothing to noop")
		return nil
	}
	for _, c := range ev.Commits {
		if err := n.store.saveCommit(ctx, c); err != nil {
			return fmt.Errorf("store commit %s: %w", c.SHA, err)
		}
	}
	log := n.log.With().Str("repo", ev.Repo).Str("branch", ev.Branch).Str("new", ev.New).Logger()
	if !slices.Contains(n.opts.Branches, ev.Branch) {
		log.Debug().Msg("branch not nooped")
		return nil
	}
	chain := firstParentChain(ev)
	hosts, err := n.store.liveHosts(ctx)
	if err != nil {
		return fmt.Errorf("list hosts: %w", err)
	}
	log.Info().Int("commits", len(ev.Commits)).Int("to_noop", len(chain)).Int("hosts", len(hosts)).Msg("commit event")
	for _, c := range chain {
		if err := n.start(ctx, ev, c, hosts); err != nil {
			return err
		}
	}
	signal(n.wake)
	return nil
}

// firstParentChain returns the event's commits on the first-parent chain
// from New, oldest first.
func firstParentChain(ev protocol.CommitEvent) []protocol.Commit {
	byID := map[string]protocol.Commit{}
	for _, c := range ev.Commits {
		byID[c.SHA] = c
	}
	var chain []protocol.Commit
	for sha := ev.New; ; {
		c, ok := byID[sha]
		if !ok {
			break
		}
		chain = append(chain, c)
		delete(byID, sha) // guards against a cycle in a bad event
		if len(c.Parents) == 0 {
			break
		}
		sha = c.Parents[0]
	}
	slices.Reverse(chain)
	return chain
}

// start creates the collection of commit c unless it exists.
func (n *Nooper) start(ctx context.Context, ev protocol.CommitEvent, c protocol.Commit, hosts []protocol.HostInfo) error {
	switch _, err := n.store.collection(ctx, c.SHA); {
	case err == nil:
		n.log.Info().Str("commit", c.SHA).Msg("already nooped")
		return nil
	case !errors.Is(err, ErrUnknownCommit):
		return err
	}
	col := &Collection{Repo: ev.Repo, Branch: ev.Branch, Commit: c}
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.begin(ctx, col, hosts)
}

// begin (re)starts the collection of col on hosts: every host is asked
// for the commit, its first parent and its last applied revision. n.mu
// must be held.
func (n *Nooper) begin(ctx context.Context, col *Collection, hosts []protocol.HostInfo) error {
	now := n.opts.Now().UTC()
	c := col.Commit
	col.State, col.Started, col.Deadline = StateCollecting, now, now.Add(n.opts.CollectionTimeout)
	col.Finished, col.Hosts, col.Needs, col.Chain, col.index = time.Time{}, nil, nil, nil, nil
	col.LastApplied = map[string]string{}
	if p := col.Parent(); p != "" {
		col.Chain = []string{p}
	}
	for _, h := range hosts {
		col.Hosts = append(col.Hosts, h.Host)
		if now.Sub(h.Seen) > n.opts.StaleHost {
			// Listed, never dropped, but not asked: it would only answer
			// by timing out MaxAttempts times.
			n.log.Info().Str("host", h.Host).Time("seen", h.Seen).Msg("host has no recent heartbeat; not asking it")
			col.Needs = append(col.Needs, Need{Host: h.Host, Revision: c.SHA, Attempts: n.opts.MaxAttempts, Deadline: now})
			continue
		}
		col.Needs = append(col.Needs, Need{Host: h.Host, Revision: c.SHA})
		if p := col.Parent(); p != "" {
			col.Needs = append(col.Needs, Need{Host: h.Host, Revision: p})
		}
		if h.LastApplied != "" && h.LastApplied != c.SHA {
			col.LastApplied[h.Host] = h.LastApplied
			if col.need(h.Host, h.LastApplied) == nil {
				col.Needs = append(col.Needs, Need{Host: h.Host, Revision: h.LastApplied})
			}
		}
	}
	sort.Strings(col.Hosts)
	if err := n.store.saveCollection(ctx, col); err != nil {
		return err
	}
	n.active[c.SHA] = col
	delete(n.lastProgress, c.SHA)
	text := fmt.Sprintf("nooping %s %q on %d hosts", protocol.Short(c.SHA), c.Subject, len(col.Hosts))
	if col.Generation > 0 {
		text = "re-" + text
	}
	n.announce(ctx, fmt.Sprintf("noop.started:%s:%d", c.SHA, col.Generation), protocol.Event{
		Type: "noop.started", Repo: col.Repo, Commit: c.SHA, Text: text,
		Data: map[string]any{"hosts": len(col.Hosts), "branch": col.Branch, "generation": col.Generation},
	})
	return nil
}

// Renoop noops the commit rev again on every host (a sha or an unambiguous
// prefix): its reports and its parent's are asked anew, as hosts' states
// may have changed. The previous result stays readable until the new one
// is ready. It returns the commit's sha.
func (n *Nooper) Renoop(ctx context.Context, rev string) (string, error) {
	sha, err := n.store.resolve(ctx, rev)
	if err != nil {
		return "", err
	}
	col, err := n.store.collection(ctx, sha)
	if err != nil {
		return "", err
	}
	hosts, err := n.store.liveHosts(ctx)
	if err != nil {
		return "", fmt.Errorf("list hosts: %w", err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, busy := n.active[sha]; busy {
		return "", fmt.Errorf("%w: %s", ErrCollecting, sha)
	}
	revs := append([]string{sha}, col.Chain...)
	// Forgetting reports another running noop still needs would change
	// its delta under it.
	for other, c := range n.active {
		for _, need := range c.Needs {
			if slices.Contains(revs, need.Revision) {
				return "", fmt.Errorf("%w: the noop of %s, still running, uses %s", ErrCollecting, protocol.Short(other), protocol.Short(need.Revision))
			}
		}
	}
	for _, h := range hosts {
		for _, r := range revs {
			if err := n.store.forgetReport(ctx, r, h.Host); err != nil {
				return "", err
			}
		}
	}
	col.Generation++
	col.RunTag = "r" + nuid.Next()
	n.log.Info().Str("commit", sha).Int("generation", col.Generation).Msg("re-noop")
	if err := n.begin(ctx, col, hosts); err != nil {
		return "", err
	}
	signal(n.wake)
	return sha, nil
}

// onReport stores a host's noop report for reuse and wakes the collector.
func (n *Nooper) onReport(ctx context.Context, m jetstream.Msg) error {
	var r protocol.RunResult
	if err := bus.Unmarshal(m.Data(), &r); err != nil {
		return err
	}
	_, host, err := bus.SplitKindHost(bus.ReportPrefix, m.Subject())
	if err != nil {
		return fmt.Errorf("%w: %v", bus.ErrMalformed, err)
	}
	if r.Host != host || !protocol.ValidSHA(r.Revision) || r.Report == nil && r.Outcome != protocol.OutcomeExpired {
		return fmt.Errorf("%w: report %q for host %q revision %q on %s", bus.ErrMalformed, r.RunID, r.Host, r.Revision, m.Subject())
	}
	if r.Outcome == protocol.OutcomeExpired {
		n.log.Info().Str("host", host).Str("run", r.RunID).Msg("a run expired before the host ran it")
		return nil
	}
	if err := n.store.saveReport(ctx, &r); err != nil {
		return err
	}
	n.mu.Lock()
	for _, c := range n.active {
		if need := c.need(host, r.Revision); need != nil {
			need.Answered, need.Failed = true, r.Report.Failed
		}
	}
	n.mu.Unlock()
	signal(n.wake)
	return nil
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
