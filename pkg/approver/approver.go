// Package approver collects sign-off for each commit's delta noop: it maps
// every change group to its owners (CODEOWNERS and node files read at the
// commit's first parent), records approvals from the CLI, GitHub and chat
// bound to the groups as seen, and announces what is still needed, what
// was granted, what lapsed and when a commit is approved. Its state lives
// in the approvals bucket.
package approver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/nooper"
	"github.com/balcony-dev/balcony/pkg/protocol"
	"github.com/balcony-dev/balcony/pkg/version"
)

// CodeReader reads the Puppet repository: files at a revision, and
// commits (their parents, author and message). Unknown revisions wrap
// gitrepo.ErrUnknownRevision.
type CodeReader interface {
	Commit(rev string) (protocol.Commit, error)
	// Files returns the contents of the files at rev for which keep
	// returns true. keep is called once for every file of the tree: the
	// approver also learns from it which module directories exist.
	Files(rev string, keep func(path string) bool) (map[string][]byte, error)
	Fetch(ctx context.Context) error
}

// Noops gives a commit's noop. nooper.Client does, through the nooper's
// collection service: the nooper's buckets are its own.
type Noops interface {
	// Collection returns the noop of rev (a sha or an unambiguous
	// prefix), wrapping nooper.ErrUnknownCommit when there is none.
	Collection(ctx context.Context, rev string) (*nooper.Collection, error)
}

// Options configures the approver. Code is required.
type Options struct {
	Code   CodeReader
	Config Config
	// Noops is where noops are read; default a nooper.Client on the
	// approver's connection.
	Noops Noops
	// GitHub, when set, gets one review issue per commit with changes
	// and gives approvals from its comments.
	GitHub GitHub
	// GitHubPoll is how often open review issues are read for approvals
	// that a lost webhook did not bring; default 1 minute.
	GitHubPoll time.Duration
	// Version is reported on the micro-service API; default the build's
	// (version.String).
	Version string
	Log     zerolog.Logger
	Now     func() time.Time
	Durable string // consumer name; default "approver"
	// Registerer is where the approver's metrics are registered
	// (metrics.go); nil keeps them private.
	Registerer prometheus.Registerer
}

// Approver is the service. Create it with New, start it with Run.
type Approver struct {
	opts    Options
	conn    *bus.Conn
	store   store
	log     zerolog.Logger
	metrics *approverMetrics

	// cacheMu guards the caches below. Nothing holds it across I/O: an
	// evaluation reads the collection, git and GitHub with no lock held,
	// and saves its record with compare-and-set (see update).
	cacheMu sync.Mutex
	teams   map[string]cachedTeam
	// layouts are the layouts read, by revision.
	layouts map[string]*layout
	// ownerships are the ownership models built, by revision.
	ownerships map[string]*ownership
	// compileTime are the compile-time code warnings, by parent..commit.
	compileTime map[string][]string
	// commits are the commits read from git, by sha.
	commits map[string]protocol.Commit
	// issues serializes the GitHub sync of each commit, so that one commit
	// never gets two review issues; nothing but that commit's sync waits
	// on it.
	issues keyedMutex
	// requests bounds the service's requests served at once; serving
	// counts them, so that stopping waits for them.
	requests chan struct{}
	serving  sync.WaitGroup
	stops    []func()
}

// maxRequests is how many requests the service serves at once.
const maxRequests = 64

// New checks the options and opens the approvals bucket.
func New(ctx context.Context, conn *bus.Conn, o Options) (*Approver, error) {
	if o.Code == nil {
		return nil, errors.New("approver: a code reader is required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Durable == "" {
		o.Durable = "approver"
	}
	if o.Version == "" {
		o.Version = version.String()
	}
	if o.GitHubPoll == 0 {
		o.GitHubPoll = time.Minute
	}
	if o.Noops == nil {
		o.Noops = nooper.Client{NC: conn.NC}
	}
	kv, err := conn.JS.KeyValue(ctx, "approvals")
	if err != nil {
		return nil, fmt.Errorf("approver: approvals bucket: %w", err)
	}
	return &Approver{
		opts: o, conn: conn, store: store{kv: kv}, requests: make(chan struct{}, maxRequests),
		log: o.Log.With().Str("component", "approver").Logger(), metrics: newMetrics(o.Registerer),
	}, nil
}

// Run evaluates each finished noop and answers approval requests until ctx
// is cancelled.
func (a *Approver) Run(ctx context.Context) error {
	if err := a.start(ctx); err != nil {
		if ctx.Err() != nil {
			return nil // stopped while starting
		}
		return fmt.Errorf("approver: %w", err)
	}
	defer a.stop()
	nodeFiles := "where each revision's environment.conf says (manifest), else manifests"
	if dirs := a.opts.Config.ManifestDirs; len(dirs) > 0 {
		nodeFiles = "in the config's manifest_dirs " + strings.Join(dirs, ", ")
	}
	a.log.Info().Str("node_files", nodeFiles).Msg("approver started")
	<-ctx.Done()
	a.log.Info().Msg("approver stopping")
	return nil
}

// start subscribes to finished noops (and GitHub comments) and registers
// the micro service; stop undoes it.
func (a *Approver) start(ctx context.Context) error {
	cc, err := a.conn.Consume(ctx, "approver", bus.Durable{
		Stream: "EVENTS", Name: a.opts.Durable + "-noops", Description: "approver: finished noops to evaluate",
		Filter: bus.EventPrefix + "noop.ready",
	}, a.onNoopReady)
	if err != nil {
		return err
	}
	a.stops = append(a.stops, cc.Stop)
	svc, err := a.addService(ctx)
	if err != nil {
		a.stop()
		return fmt.Errorf("micro service: %w", err)
	}
	a.stops = append(a.stops, func() { _ = svc.Stop(); a.serving.Wait() })
	if a.opts.GitHub != nil {
		gc, err := a.conn.Consume(ctx, "approver", bus.Durable{
			Stream: "GITHUB", Name: a.opts.Durable + "-github", Description: "approver: GitHub issue comments",
			Filter: "balcony.github.comment",
		}, a.onComment)
		if err != nil {
			a.stop()
			return err
		}
		a.stops = append(a.stops, gc.Stop)
		go a.pollGitHub(ctx)
	}
	sweep, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.resumePending(sweep)
	}()
	a.stops = append(a.stops, func() { cancel(); <-done })
	return nil
}

// resumePending evaluates again, once at start, every commit whose record
// holds announcements not known to be published: the approver stopped
// between saving a record and publishing (see Record.Pending), or the
// publish failed and nothing evaluated the commit since.
func (a *Approver) resumePending(ctx context.Context) {
	keys, err := a.store.kv.ListKeys(ctx)
	if errors.Is(err, jetstream.ErrNoKeysFound) {
		return
	}
	if err != nil {
		a.log.Warn().Err(err).Msg("list approvals for pending announcements")
		return
	}
	defer func() { _ = keys.Stop() }()
	for sha := range keys.Keys() {
		rec, _, err := a.store.get(ctx, sha)
		if err != nil || rec == nil || len(rec.Pending) == 0 {
			continue
		}
		if _, err := a.update(ctx, sha, nil); err != nil && ctx.Err() == nil {
			a.log.Warn().Err(err).Str("commit", sha).Msg("announce what was pending")
		}
	}
}

// stop undoes start, in reverse order.
func (a *Approver) stop() {
	for i := len(a.stops) - 1; i >= 0; i-- {
		a.stops[i]()
	}
	a.stops = nil
}

// onNoopReady re-evaluates the commit of a noop.ready event.
func (a *Approver) onNoopReady(ctx context.Context, m jetstream.Msg) error {
	var ev protocol.Event
	if err := json.Unmarshal(m.Data(), &ev); err != nil {
		return fmt.Errorf("%w: %v", bus.ErrMalformed, err)
	}
	if ev.Commit == "" {
		return fmt.Errorf("%w: noop.ready event without a commit", bus.ErrMalformed)
	}
	_, err := a.update(ctx, ev.Commit, nil)
	if errors.Is(err, nooper.ErrUnknownCommit) {
		return fmt.Errorf("%w: %v", bus.ErrSkip, err)
	}
	return err
}
