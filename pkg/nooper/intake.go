package nooper

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"sort"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/gitrepo"
	"github.com/balcony-dev/balcony/pkg/protocol"
	"github.com/balcony-dev/balcony/pkg/runs"
)

// onCommitEvent starts a collection for each new commit on the branch's
// first-parent chain. The event is only a wake-up and a hint: which
// commits are new, their parents, authors and messages are read from the
// nooper's own mirror of the repository (fetched when it lacks the tip),
// never from the event. A tip the repository does not have, or that is not
// on the first-parent chain of the event's branch, is rejected: such an
// event is forged or mistaken, and must not create a collection. Side-branch
// commits of a merge are not nooped alone: they are never applied alone.
func (n *Nooper) onCommitEvent(ctx context.Context, m jetstream.Msg) error {
	var ev protocol.CommitEvent
	if err := bus.Unmarshal(m.Data(), &ev); err != nil {
		return err
	}
	if !protocol.ValidSHA(ev.New) {
		return fmt.Errorf("%w: commit event for %s: new tip %q is not a sha", bus.ErrMalformed, ev.Ref, ev.New)
	}
	log := n.log.With().Str("repo", ev.Repo).Str("branch", ev.Branch).Str("new", ev.New).Logger()
	if !slices.Contains(n.opts.Branches, ev.Branch) {
		log.Debug().Msg("branch not nooped")
		return nil
	}
	if err := n.verifyTip(ctx, ev.Branch, ev.New); err != nil {
		return err
	}
	chain, err := n.newCommits(ctx, ev)
	if err != nil {
		return err
	}
	if len(chain) == 0 {
		// A branch moved back to a commit already nooped.
		log.Info().Msg("nothing new to noop")
		return nil
	}
	for _, c := range chain {
		if err := n.store.saveCommit(ctx, c); err != nil {
			return fmt.Errorf("store commit %s: %w", c.SHA, err)
		}
	}
	hosts, err := n.store.liveHosts(ctx)
	if err != nil {
		return fmt.Errorf("list hosts: %w", err)
	}
	log.Info().Int("to_noop", len(chain)).Int("hosts", len(hosts)).Msg("commit event")
	for _, c := range chain {
		if err := n.start(ctx, ev, c, hosts); err != nil {
			return err
		}
	}
	signal(n.wake)
	return nil
}

// Bounds of the walks down a branch's first-parent chain.
const (
	// chainLimit is how far below a branch's tip a commit event's tip
	// may be (a nooper catching up on old events).
	chainLimit = 10 * gitrepo.DefaultLimit
	// maxNewCommits is how many commits one push may bring to be nooped.
	maxNewCommits = gitrepo.DefaultLimit
)

// verifyTip checks that the repository has sha on the first-parent chain
// of branch. When it does not, the mirror is fetched (the push may be newer
// than the mirror) and checked again; still not, the event is rejected
// with the reason. A failed fetch is retried: it proves nothing.
func (n *Nooper) verifyTip(ctx context.Context, branch, sha string) error {
	why, err := n.tipProblem(branch, sha)
	if err != nil || why == "" {
		return err
	}
	if err := n.opts.Code.Fetch(ctx); err != nil {
		return fmt.Errorf("fetch the repository to find %s: %w", protocol.Short(sha), err)
	}
	if why, err = n.tipProblem(branch, sha); err != nil || why == "" {
		return err
	}
	return fmt.Errorf("%w: commit event for %s: %s", bus.ErrMalformed, branch, why)
}

// tipProblem says why sha cannot be a push to branch, as the repository
// shows it now; "" when it can.
func (n *Nooper) tipProblem(branch, sha string) (string, error) {
	_, err := n.opts.Code.Commit(sha)
	if errors.Is(err, gitrepo.ErrUnknownRevision) {
		return fmt.Sprintf("the repository has no commit %s", sha), nil
	}
	if err != nil {
		return "", err
	}
	on, err := n.opts.Code.OnFirstParentChain(branch, sha, chainLimit)
	if errors.Is(err, gitrepo.ErrUnknownRevision) {
		return fmt.Sprintf("the repository has no branch %s", branch), nil
	}
	if err != nil {
		return "", err
	}
	if !on {
		return fmt.Sprintf("commit %s is not on the first-parent chain of %s (within %d commits of its tip)", sha, branch, chainLimit), nil
	}
	return "", nil
}

// newCommits reads from the repository the commits a push of ev.New
// brought, oldest first: its first-parent chain down to the first commit
// already nooped. When none of them is (the first push of the branch the
// nooper sees), the branch's history is taken to end at the event's Old
// when Old is on that chain, else at the tip's parent, as for a new
// branch: the hint can only shorten a walk that found nothing nooped.
func (n *Nooper) newCommits(ctx context.Context, ev protocol.CommitEvent) ([]protocol.Commit, error) {
	var chain []protocol.Commit
	nooped := false
	for sha := ev.New; len(chain) < maxNewCommits; {
		var err error
		if nooped, err = n.store.hasCollection(ctx, sha); err != nil {
			return nil, err
		}
		if nooped {
			break
		}
		c, err := n.opts.Code.Commit(sha)
		if err != nil {
			return nil, fmt.Errorf("read the commits of %s: %w", protocol.Short(ev.New), err)
		}
		chain = append(chain, c)
		if len(c.Parents) == 0 {
			break
		}
		sha = c.Parents[0]
	}
	if !nooped && len(chain) > 0 {
		end := 1
		if i := slices.IndexFunc(chain, func(c protocol.Commit) bool { return c.SHA == ev.Old }); i >= 0 {
			end = i
		}
		if end < len(chain) {
			n.log.Info().Str("branch", ev.Branch).Str("new", ev.New).Int("to_noop", end).Msg("no earlier commit of the branch was nooped: its history before this push is not")
		}
		chain = chain[:end]
	}
	slices.Reverse(chain)
	return chain, nil
}

// commit reads sha from the repository; nil when it does not have it.
func (n *Nooper) commit(sha string) (*protocol.Commit, error) {
	c, err := n.opts.Code.Commit(sha)
	if errors.Is(err, gitrepo.ErrUnknownRevision) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &c, nil
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
	// The run tag makes the collection's run ids unguessable: a report
	// published ahead of a push cannot take the place (or the message id)
	// of the answer to a run asked later.
	col := &Collection{Repo: ev.Repo, Branch: ev.Branch, Commit: c, RunTag: "r" + nuid.Next()}
	return n.begin(ctx, col, hosts, nil)
}

// begin (re)starts the collection of col on hosts: every host is asked
// for the commit, its first parent and its last applied revision. col is
// not active yet: it is prepared without the lock, made active under it
// once check (when set) allows it, and stored without it; steps leave it
// alone until it is stored.
func (n *Nooper) begin(ctx context.Context, col *Collection, hosts []protocol.HostInfo, check func() error) error {
	now := n.opts.Now().UTC()
	c := col.Commit
	col.State, col.Started, col.Deadline = StateCollecting, now, now.Add(n.opts.CollectionTimeout)
	col.Finished, col.Hosts, col.Needs, col.Chain, col.index = time.Time{}, nil, nil, nil, nil
	col.LastApplied, col.AppliedAt = map[string]string{}, map[string]time.Time{}
	col.looked, col.unstored, col.FirstDeadline = false, nil, time.Time{}
	if p := col.Parent(); p != "" {
		col.Chain = []string{p}
	}
	for _, h := range hosts {
		col.Hosts = append(col.Hosts, h.Host)
		if !h.AppliedAt.IsZero() {
			col.AppliedAt[h.Host] = h.AppliedAt
		}
		if now.Sub(h.Seen) > n.opts.StaleHost {
			// Listed, never dropped, but not asked: it would only answer
			// by timing out MaxAttempts times.
			n.log.Info().Str("host", h.Host).Time("seen", h.Seen).Msg("host has no recent heartbeat; not asking it")
			col.Needs = append(col.Needs, Need{Host: h.Host, Revision: c.SHA, Attempts: n.opts.MaxAttempts, Deadline: now})
			col.dirty(h.Host)
			continue
		}
		if h.LastApplied != "" && h.LastApplied != c.SHA {
			col.LastApplied[h.Host] = h.LastApplied
		}
		col.Needs = append(col.Needs, col.defaultNeeds(h.Host)...)
	}
	sort.Strings(col.Hosts)
	col.starting = true
	n.mu.Lock()
	if check != nil {
		if err := check(); err != nil {
			n.mu.Unlock()
			return err
		}
	}
	n.active[c.SHA] = col
	delete(n.lastProgress, c.SHA)
	rec := col.header()
	n.mu.Unlock()
	err := n.store.saveCollection(ctx, rec)
	n.mu.Lock()
	col.starting = false
	if err != nil {
		delete(n.active, c.SHA)
	}
	n.mu.Unlock()
	if err != nil {
		return err
	}
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
	revs := append([]string{sha}, col.Chain...)
	// Forgetting reports another running noop still needs would change
	// its delta under it. Checked before the reports are forgotten, and
	// again before the re-noop starts.
	free := func() error {
		if _, busy := n.active[sha]; busy {
			return fmt.Errorf("%w: %s", ErrCollecting, sha)
		}
		for other, c := range n.active {
			for _, need := range c.Needs {
				if slices.Contains(revs, need.Revision) {
					return fmt.Errorf("%w: the noop of %s, still running, uses %s", ErrCollecting, protocol.Short(other), protocol.Short(need.Revision))
				}
			}
		}
		return nil
	}
	n.mu.Lock()
	err = free()
	if err == nil {
		// Late answers to runs of earlier noops would stand for the new ones.
		for id, a := range n.recent {
			if slices.Contains(revs, a.rev) {
				delete(n.recent, id)
			}
		}
	}
	n.mu.Unlock()
	if err != nil {
		return "", err
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
	if err := n.begin(ctx, col, hosts, free); err != nil {
		return "", err
	}
	signal(n.wake)
	return sha, nil
}

// onReport stores a host's noop report for reuse and wakes the collector.
// A report counts only as the answer to a run the nooper asked: its run
// id, host and revision those of a need of a running collection (any of
// the need's attempts), or of one that finished within a run timeout, and
// it arrived on that host's subject. Anything else, however well formed,
// is rejected: never stored, never answering a need. An expired answer is
// only logged, and likewise only for a run asked.
func (n *Nooper) onReport(ctx context.Context, m jetstream.Msg) error {
	var r protocol.RunResult
	if err := bus.Unmarshal(m.Data(), &r); err != nil {
		return err
	}
	host, err := runs.CheckResult(protocol.KindNoop, m.Subject(), &r)
	if err != nil {
		return err
	}
	n.mu.Lock()
	asked := n.asked(r.RunID, host, r.Revision)
	n.mu.Unlock()
	if !asked {
		return fmt.Errorf("%w: report %q of %s for %s answers no run the nooper asked", bus.ErrMalformed, r.RunID, host, r.Revision)
	}
	n.asker.Answered(r.Outcome)
	if r.Outcome == protocol.OutcomeExpired {
		n.log.Info().Str("host", host).Str("run", r.RunID).Msg("a run expired before the host ran it")
		return nil
	}
	if err := n.keepReport(ctx, &r); err != nil {
		return err
	}
	n.mu.Lock()
	for _, c := range n.active {
		// A late answer to a run asked before the host's last apply
		// answers nothing the collection waits for.
		if need := c.need(host, r.Revision); need != nil && c.current(need, &r) {
			need.Answered, need.Failed = true, r.Report.Failed
		}
	}
	n.mu.Unlock()
	signal(n.wake)
	return nil
}

// keepReport stores r unless the host's stored report of the revision is
// newer (by the host's own clock): a late answer to an earlier run never
// replaces what the host showed since, an apply's effects included.
// Reports are taken in by several workers: two answers for one host and
// revision are kept one after the other.
func (n *Nooper) keepReport(ctx context.Context, r *protocol.RunResult) error {
	mu := &n.keeping[keepStripe(reportKey(r.Revision, r.Host))]
	mu.Lock()
	defer mu.Unlock()
	old, err := n.store.report(ctx, r.Revision, r.Host)
	if err != nil {
		return err
	}
	if old != nil && old.FinishedAt.After(r.FinishedAt) {
		n.log.Info().Str("host", r.Host).Str("revision", r.Revision).Str("run", r.RunID).Msg("a late answer older than the stored report; not kept")
		return nil
	}
	return n.store.saveReport(ctx, r)
}

// asked tells whether run id was asked of host for rev by a running
// collection or one finished recently. n.mu must be held.
func (n *Nooper) asked(id, host, rev string) bool {
	if a, ok := n.recent[id]; ok && a.host == host && a.rev == rev && !n.opts.Now().After(a.until) {
		return true
	}
	for _, c := range n.active {
		if need := c.need(host, rev); need != nil && need.Asked(id) {
			return true
		}
	}
	return false
}

// askedRun is a run of a finished collection whose late answer is still
// stored for reuse, until the deadline.
type askedRun struct {
	host, rev string
	until     time.Time
}

// rememberRuns keeps the runs of c, which is finishing, for a run timeout
// past their deadlines, and forgets those past it. They are kept in memory
// only: a late answer reaching a restarted nooper is rejected, and the
// next commit that needs it asks again. n.mu must be held.
func (n *Nooper) rememberRuns(c *Collection) {
	now := n.opts.Now()
	for id, a := range n.recent {
		if now.After(a.until) {
			delete(n.recent, id)
		}
	}
	if c == nil {
		return
	}
	for _, need := range c.Needs {
		for _, id := range need.Runs {
			n.recent[id] = askedRun{host: need.Host, rev: need.Revision, until: need.Deadline.Add(n.opts.RunTimeout)}
		}
	}
}

// keepStripes is how many locks keepReport spreads report keys over.
const keepStripes = 64

func keepStripe(key string) int {
	h := fnv.New32a()
	h.Write([]byte(key))
	return int(h.Sum32() % keepStripes)
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
