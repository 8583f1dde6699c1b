// Package committer turns pushes to the Puppet code repository into
// CommitEvents: it reads the ref updates of a post-receive hook (or the
// branch tips, in watch mode), lists the commits each configured branch
// gained since it was last published, and hands one event per branch to a
// Publisher. What was published is recorded as refs inside the repository
// (gitrepo's published markers), so a push made while the bus was down is
// published by the next push, by Sync or by Watch. The package knows no bus:
// the caller supplies the Publisher.
package committer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/balcony-dev/balcony/pkg/gitrepo"
	"github.com/balcony-dev/balcony/pkg/protocol"
)

// Errors a caller may branch on.
var (
	// ErrNotPublished: some branches could not be published; they will be
	// by the next push, Sync or Watch. The error is a *PublishError.
	ErrNotPublished = errors.New("not published")
	// ErrInvalidOptions: New was given unusable Options.
	ErrInvalidOptions = errors.New("invalid committer options")
)

// Sources of a CommitEvent.
const (
	SourceHook    = "hook"
	SourceWebhook = "webhook"
	SourceWatch   = "watch"
	// SourceTrigger: a CI trigger asked for a revision (trigger.go).
	SourceTrigger = "trigger"
)

// DefaultBranch is the only branch published when Options.Branches is empty.
const DefaultBranch = "main"

// Publisher sends one CommitEvent to the bus. It returns once the bus has
// acknowledged the event, or with an error (ctx's, for one) when it could
// not. Publishing the same event twice is harmless: the nooper reads what a
// push brought from its own mirror, and finds nothing new the second time.
type Publisher interface {
	PublishCommits(ctx context.Context, ev protocol.CommitEvent) error
}

// Options configures a Committer. The zero value of each optional field
// selects its default.
type Options struct {
	// RepoName names the repository on the bus (balcony.commit.<RepoName>):
	// required, one subject token (no dot, space, '*' or '>').
	RepoName string
	// RepoPath is the local repository, bare or not (a push's target or a
	// mirror): required.
	RepoPath string
	// Branches are the branches published; empty means only DefaultBranch.
	Branches []string
	// Source is written in every event: SourceHook (default), SourceWebhook
	// or SourceWatch.
	Source string
	// Limit bounds the commits of one event (gitrepo.DefaultLimit if <= 0).
	Limit int
	// Log receives one line per ref update or branch handled; the zero
	// Logger discards.
	Log zerolog.Logger
	// Now stamps events; time.Now by default.
	Now func() time.Time
	// Registerer is where the committer's metrics are registered
	// (metrics.go); nil keeps them private.
	Registerer prometheus.Registerer
	// Code, when set, builds on the committer's repository what puts each
	// revision's code on the bus before its event (CodeOnBus, code.go);
	// nil publishes events only.
	Code func(repo *gitrepo.Repo) CodePublisher
}

// Committer publishes the commits of configured branches. Its methods may be
// called concurrently, though a hook and a watcher racing on one branch may
// publish the same event twice (the nooper nooped it already the second time).
type Committer struct {
	opts    Options
	repo    *gitrepo.Repo
	pub     Publisher
	log     zerolog.Logger
	metrics *committerMetrics
	code    CodePublisher // nil: events only
}

// New opens opts.RepoPath and returns a Committer publishing through pub.
// Invalid options wrap ErrInvalidOptions.
func New(opts Options, pub Publisher) (*Committer, error) {
	switch {
	case opts.RepoName == "" || strings.ContainsAny(opts.RepoName, ".*> \t\r\n"):
		return nil, fmt.Errorf("repo name %q: %w", opts.RepoName, ErrInvalidOptions)
	case opts.RepoPath == "":
		return nil, fmt.Errorf("repo path is empty: %w", ErrInvalidOptions)
	case pub == nil:
		return nil, fmt.Errorf("no publisher: %w", ErrInvalidOptions)
	}
	if len(opts.Branches) == 0 {
		opts.Branches = []string{DefaultBranch}
	}
	opts.Branches = slices.Clone(opts.Branches)
	slices.Sort(opts.Branches)
	opts.Branches = slices.Compact(opts.Branches)
	if opts.Source == "" {
		opts.Source = SourceHook
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	repo, err := gitrepo.Open(opts.RepoPath)
	if err != nil {
		return nil, fmt.Errorf("committer: %w", err)
	}
	log := opts.Log.With().Str("component", "committer").Str("repo", opts.RepoName).Logger()
	c := &Committer{opts: opts, repo: repo, pub: pub, log: log, metrics: newMetrics(opts.Registerer)}
	if opts.Code != nil {
		c.code = opts.Code(repo)
	}
	return c, nil
}

// Repo is the repository the Committer reads.
func (c *Committer) Repo() *gitrepo.Repo { return c.repo }

// Close closes the files the Committer's repository keeps open (see
// gitrepo.Repo.Close).
func (c *Committer) Close() error { return c.repo.Close() }

// PublishError lists the branches a call could not publish. It matches
// ErrNotPublished with errors.Is, and its causes too.
type PublishError struct {
	Branches []string // sorted, each once
	Err      error    // the causes, joined
}

func (e *PublishError) Error() string {
	return fmt.Sprintf("branches %s %s: %v", strings.Join(e.Branches, ", "), ErrNotPublished, e.Err)
}

// Unwrap returns ErrNotPublished and the causes.
func (e *PublishError) Unwrap() []error { return []error{ErrNotPublished, e.Err} }

// HandleUpdates publishes the ref updates of one push, in order, and returns
// how many events were published. Not published, only logged: a deleted
// branch, a ref outside refs/heads/ (tags, notes), a branch not configured
// (at debug level). For a configured branch the event lists the commits
// since the branch's published marker, or since Old when it has none (a
// created branch: its tip only); after the publish the marker moves to New.
// A branch whose marker already is New publishes nothing; a rewind (New
// an ancestor of the base) publishes an event with no commits, so that
// consumers learn the new tip. More than Options.Limit commits is an error
// wrapping gitrepo.ErrTooManyCommits and leaves the branch unpublished.
//
// Every update is tried even when one fails; then the error is a
// *PublishError (wrapping ErrNotPublished) naming the branches left
// unpublished. Each publish is bounded only by ctx: the hook passes a short
// deadline so a push never waits long for a bus that is down.
func (c *Committer) HandleUpdates(ctx context.Context, updates []RefUpdate) (published int, err error) {
	var failed failures
	for _, u := range updates {
		log := c.log.With().Str("ref", u.Ref).Str("old", u.Old).Str("new", u.New).Logger()
		branch, ok := strings.CutPrefix(u.Ref, "refs/heads/")
		switch {
		case !ok:
			log.Info().Msg("not a branch, not published")
			continue
		case isZero(u.New):
			log.Info().Str("branch", branch).Msg("branch deleted, not published")
			continue
		case !c.configured(branch):
			log.Debug().Str("branch", branch).Msg("branch not configured, not published")
			continue
		}
		old := u.Old
		if isZero(old) {
			old = ""
		}
		done, err := c.publish(ctx, log, branch, old, u.New)
		if done {
			published++
		}
		if err != nil {
			failed.add(branch, err)
		}
	}
	return published, failed.err()
}

// Sync publishes every configured branch of the repository whose tip is not
// its published marker: the commits since the marker, or the tip alone when
// the branch was never published. It returns how many events were published
// and, when some branches failed, a *PublishError naming them. Watch calls
// it on every tick; a hook may call it after HandleUpdates to cover pushes
// whose publish failed.
func (c *Committer) Sync(ctx context.Context) (int, error) {
	tips, err := c.repo.Branches()
	if err != nil {
		return 0, fmt.Errorf("sync: %w", err)
	}
	published := 0
	var failed failures
	for _, branch := range c.opts.Branches {
		tip, ok := tips[branch]
		if !ok {
			continue
		}
		log := c.log.With().Str("ref", "refs/heads/"+branch).Str("new", tip).Logger()
		done, err := c.publish(ctx, log, branch, "", tip)
		if done {
			published++
		}
		if err != nil {
			failed.add(branch, err)
		}
	}
	return published, failed.err()
}

// publish sends the event for branch moving to tip: base is the published
// marker if any, else old ("" for a new branch: the tip only). It reports
// whether an event was published.
func (c *Committer) publish(ctx context.Context, log zerolog.Logger, branch, old, tip string) (bool, error) {
	base := old
	marker, ok, err := c.repo.Published(branch)
	if err != nil {
		return false, err
	}
	if ok {
		base = marker
	}
	if base == tip {
		log.Debug().Str("branch", branch).Msg("already published")
		return false, nil
	}
	commits, err := c.repo.NewCommits(base, tip, c.opts.Limit)
	if errors.Is(err, gitrepo.ErrTooManyCommits) {
		// Refusing would leave the branch unpublished forever (every
		// later push fails the same way); publish its tip alone, as for a
		// new branch, and say so.
		log.Warn().Err(err).Str("branch", branch).Str("base", base).Msg("too many new commits: publishing the tip alone")
		commits, err = c.repo.NewCommits("", tip, c.opts.Limit)
	}
	if err != nil {
		return false, err
	}
	ev := protocol.CommitEvent{
		Schema:  protocol.SchemaVersion,
		Repo:    c.opts.RepoName,
		Ref:     "refs/heads/" + branch,
		Branch:  branch,
		Old:     base,
		New:     tip,
		Commits: commits,
		Source:  c.opts.Source,
		Time:    c.opts.Now().UTC(),
	}
	c.publishCode(ctx, log, tip, base)
	if err := c.pub.PublishCommits(ctx, ev); err != nil {
		c.metrics.failures.WithLabelValues(c.opts.Source).Inc()
		return false, fmt.Errorf("publish %s %s: %w", branch, tip, err)
	}
	c.metrics.events.WithLabelValues(c.opts.Source).Inc()
	c.metrics.commits.WithLabelValues(c.opts.Source).Add(float64(len(commits)))
	log.Info().Str("branch", branch).Str("base", base).Int("commits", len(commits)).Msg("published")
	if err := c.repo.SetPublished(branch, tip); err != nil {
		// Published but not recorded: the next run publishes again, which
		// the nooper finds already nooped.
		return true, fmt.Errorf("published %s %s but could not record it: %w", branch, tip, err)
	}
	return true, nil
}

// PublishRevision publishes a commit event for sha on branch as a push of
// sha would (Source SourceTrigger), without moving the branch's published
// marker: a trigger is not a push, and the next push still publishes what
// it brings. The event's Old is empty, so the nooper, which reads the
// first-parent chain from its own mirror, noops sha and the commits below
// it down to the last it nooped, or sha alone when it nooped none of the
// branch. The caller checks that sha is on branch's first-parent chain.
func (c *Committer) PublishRevision(ctx context.Context, branch, sha string) error {
	commits, err := c.repo.NewCommits("", sha, c.opts.Limit)
	if err != nil {
		return err
	}
	ev := protocol.CommitEvent{
		Schema: protocol.SchemaVersion, Repo: c.opts.RepoName, Ref: "refs/heads/" + branch, Branch: branch,
		New: sha, Commits: commits, Source: SourceTrigger, Time: c.opts.Now().UTC(),
	}
	// The code relative to the branch's last published revision: an
	// agent that follows the branch has it.
	marker, _, err := c.repo.Published(branch)
	if err != nil {
		marker = ""
	}
	c.publishCode(ctx, c.log.With().Str("new", sha).Logger(), sha, marker)
	if err := c.pub.PublishCommits(ctx, ev); err != nil {
		return fmt.Errorf("publish %s %s: %w", branch, sha, err)
	}
	c.log.Info().Str("branch", branch).Str("new", sha).Msg("published for a trigger")
	return nil
}

// Branches are the configured branches, sorted.
func (c *Committer) Branches() []string { return slices.Clone(c.opts.Branches) }

func (c *Committer) configured(branch string) bool {
	_, ok := slices.BinarySearch(c.opts.Branches, branch)
	return ok
}

// failures collects the branches left unpublished.
type failures struct {
	branches []string
	errs     []error
}

func (f *failures) add(branch string, err error) {
	if !slices.Contains(f.branches, branch) {
		f.branches = append(f.branches, branch)
	}
	f.errs = append(f.errs, err)
}

func (f *failures) err() error {
	if len(f.branches) == 0 {
		return nil
	}
	slices.Sort(f.branches)
	return &PublishError{Branches: f.branches, Err: errors.Join(f.errs...)}
}
