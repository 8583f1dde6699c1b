// Package nooper turns each new commit into its delta noop: it asks every
// host for noops of the commit and its first parent (and of the host's last
// applied revision), collects the reports, subtracts, groups identical
// changes across hosts, stores the result and announces it. Its state lives
// in the noops bucket, so a restarted nooper resumes where it was.
package nooper

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/delta"
	"github.com/balcony-dev/balcony/pkg/protocol"
	"github.com/balcony-dev/balcony/pkg/review"
	"github.com/balcony-dev/balcony/pkg/runs"
	"github.com/balcony-dev/balcony/pkg/version"
)

// CodeReader reads the commits of the Puppet repository; a mirror
// (gitrepo.Repo) is one. Unknown revisions wrap gitrepo.ErrUnknownRevision.
type CodeReader interface {
	Commit(rev string) (protocol.Commit, error)
	OnFirstParentChain(branch, sha string, limit int) (bool, error)
	Fetch(ctx context.Context) error
}

// Options configures the nooper. Code is required; defaults of the others
// are set in New.
type Options struct {
	// Code is the nooper's own copy of the repository: which commits a
	// push brought, their parents and messages are read there, never from
	// the commit event.
	Code CodeReader
	// Branches are the branches whose commits are nooped; default main.
	Branches []string
	// RunTimeout is how long a host has to answer one run before it is
	// asked again; default 10 minutes.
	RunTimeout time.Duration
	// CollectionTimeout is how long a commit's noop waits for all hosts
	// before it is finished with the missing ones listed; default 30m.
	CollectionTimeout time.Duration
	// MaxAttempts bounds how often a host is asked for the same noop;
	// default 3.
	MaxAttempts int
	// BaselineDepth is how many earlier commits are tried when a host's
	// parent noop failed; default 5.
	BaselineDepth int
	// StaleHost is how long a host may go without a heartbeat and still be
	// asked for noops; staler hosts are listed as not answering without
	// being asked. Default 1 hour.
	StaleHost time.Duration
	// Tick is how often deadlines are checked; default 1s.
	Tick    time.Duration
	Delta   delta.Options
	Log     zerolog.Logger
	Now     func() time.Time
	Durable string // consumer name prefix; default "nooper"
	// Version is reported on the micro-service API; default the build's
	// (version.String).
	Version string
	// Registerer is where the nooper's metrics are registered (metrics.go);
	// nil keeps them private.
	Registerer prometheus.Registerer
}

// Nooper is the service. Create it with New, start it with Run.
type Nooper struct {
	opts  Options
	conn  *bus.Conn
	store *store
	log   zerolog.Logger
	wake  chan struct{}
	// asker publishes the noop runs (the machinery the applier shares).
	asker runs.Asker
	// metrics are the nooper's collectors; fleet the hosts they count.
	metrics *nooperMetrics
	fleet   *fleet

	mu sync.Mutex
	// active are the collections in progress, by commit sha.
	active map[string]*Collection
	// lastProgress remembers the last progress announced per commit.
	lastProgress map[string]progressMark
	// recheck marks resumed collections, whose unanswered needs are
	// looked up in the reports bucket once.
	recheck map[string]bool
	// recent are the runs of collections finished lately, by run id,
	// whose late answers are still stored.
	recent map[string]askedRun
	// parents caches the first parents baseline extensions read from
	// the repository, outside the lock.
	parents map[string]string

	// live is each active collection's progress as of the last step,
	// for the show service: under its own lock, so that a request never
	// waits for a step's I/O.
	liveMu sync.Mutex
	live   map[string]review.Progress

	// keeping serializes the storing of reports of one key (keepReport).
	keeping [keepStripes]sync.Mutex

	// served keeps the documents served in chunks, for their next chunks.
	served chunks

	// applied is each host's last apply, from the watch of the hosts
	// bucket, and the hosts to re-noop (applied.go).
	applied applied
}

// New checks the options and opens the buckets.
func New(ctx context.Context, conn *bus.Conn, o Options) (*Nooper, error) {
	if o.Code == nil {
		return nil, errors.New("nooper: a code reader (the repository) is required")
	}
	if len(o.Branches) == 0 {
		o.Branches = []string{"main"}
	}
	if o.RunTimeout == 0 {
		o.RunTimeout = 10 * time.Minute
	}
	if o.CollectionTimeout == 0 {
		o.CollectionTimeout = 30 * time.Minute
	}
	if o.CollectionTimeout < o.RunTimeout {
		return nil, fmt.Errorf("nooper: collection timeout %s is shorter than the run timeout %s", o.CollectionTimeout, o.RunTimeout)
	}
	if o.MaxAttempts == 0 {
		o.MaxAttempts = 3
	}
	if o.BaselineDepth == 0 {
		o.BaselineDepth = 5
	}
	if o.StaleHost == 0 {
		o.StaleHost = time.Hour
	}
	if o.Tick == 0 {
		o.Tick = time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Durable == "" {
		o.Durable = "nooper"
	}
	if o.Version == "" {
		o.Version = version.String()
	}
	st, err := openStore(ctx, conn.JS)
	if err != nil {
		return nil, fmt.Errorf("nooper: %w", err)
	}
	log := o.Log.With().Str("component", "nooper").Logger()
	m := newMetrics(o.Registerer, o.StaleHost, o.Now)
	return &Nooper{
		opts: o, conn: conn, store: st, log: log, metrics: m, fleet: m.fleet,
		asker:        runs.Asker{Conn: conn, Kind: protocol.KindNoop, RequestedBy: "nooper", Timeout: o.RunTimeout, Log: log, Metrics: m.runs},
		wake:         make(chan struct{}, 1),
		active:       map[string]*Collection{},
		lastProgress: map[string]progressMark{},
		recheck:      map[string]bool{},
		recent:       map[string]askedRun{},
		parents:      map[string]string{},
		live:         map[string]review.Progress{},
	}, nil
}

// reportWorkers is how many reports are taken in at once: each waits on
// two store round trips, which many hosts answering together overlap.
const reportWorkers = 16

// reportAckWait is how long a report's delivery waits for the nooper to
// take it in before it is delivered again.
const reportAckWait = 10 * time.Second

// startErr is Run's error for a failure while starting: none when ctx was
// cancelled meanwhile (a SIGTERM during start-up is a clean stop).
func (n *Nooper) startErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("nooper: %w", err)
}

// Run consumes commit events and reports until ctx is cancelled, resuming
// the collections a previous run left unfinished.
func (n *Nooper) Run(ctx context.Context) error {
	resumed, err := n.store.collecting(ctx, n.log)
	if err != nil {
		return n.startErr(ctx, fmt.Errorf("resume: %w", err))
	}
	for _, c := range resumed {
		n.active[c.Commit.SHA] = c
		// Reports may have arrived after its last save: look again.
		n.recheck[c.Commit.SHA] = true
		n.log.Info().Str("commit", c.Commit.SHA).Str("state", c.State).Int("answered", c.Progress().Answered).Int("hosts", len(c.Hosts)).Msg("resuming a noop collection")
	}

	cc, err := n.conn.Consume(ctx, "nooper", bus.Durable{
		Stream: "COMMITS", Name: n.opts.Durable + "-commits", Description: "nooper: commit events to noop",
		Filter: bus.CommitPrefix + ">", MaxAckPending: 1, // in push order
	}, n.onCommitEvent)
	if err != nil {
		return n.startErr(ctx, err)
	}
	defer cc.Stop()
	rc, err := n.conn.Consume(ctx, "nooper", bus.Durable{
		Stream: "REPORTS", Name: n.opts.Durable + "-reports", Description: "nooper: every host's noop reports",
		Filter: bus.ReportPrefix + "noop.>", MaxAckPending: 1000, Workers: reportWorkers,
		// A report takes two store round trips to take in: one sent to
		// a cluster node that died comes again after seconds, not a
		// minute of a stalled collection.
		AckWait: reportAckWait,
	}, n.onReport)
	if err != nil {
		return n.startErr(ctx, err)
	}
	defer rc.Stop()
	// The watch's goroutine ends before Run returns.
	wctx, stopWatch := context.WithCancel(ctx)
	var watching sync.WaitGroup
	defer watching.Wait()
	defer stopWatch()
	if err := n.watchApplied(wctx, &watching); err != nil {
		return n.startErr(ctx, err)
	}
	svc, err := n.addService(ctx, n.opts.Version)
	if err != nil {
		return n.startErr(ctx, fmt.Errorf("micro service: %w", err))
	}
	defer svc.Stop() //nolint:errcheck // best effort at shutdown
	n.log.Info().Int("resumed", len(resumed)).Msg("nooper started")

	tick := time.NewTicker(n.opts.Tick)
	defer tick.Stop()
	for {
		began := time.Now()
		n.step(ctx)
		select {
		case <-ctx.Done():
			n.log.Info().Msg("nooper stopping")
			return nil
		case <-tick.C:
		case <-n.wake:
			// A step looks at every need of every collection: woken by
			// each of ten thousand reports, it would do little else.
			// Reports arriving meanwhile are taken in all the same.
			if wait := stepGap - time.Since(began); wait > 0 {
				select {
				case <-ctx.Done():
					n.log.Info().Msg("nooper stopping")
					return nil
				case <-time.After(wait):
				}
			}
		}
	}
}

// stepGap is the least time between the starts of two steps woken by
// the bus.
const stepGap = 50 * time.Millisecond
