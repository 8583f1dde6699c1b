// Package agent is balcony's per-host daemon. It receives the runs asked of
// its host through a plain subscription to its own subject and reads them
// from the RUNS stream, in order, through a short-lived consumer filtered
// on its own subject (no lasting consumer per host), runs them one at a
// time, and publishes each result to REPORTS.
package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/hostinfo"
	"github.com/balcony-dev/balcony/pkg/protocol"
	"github.com/balcony-dev/balcony/pkg/puppet"
	"github.com/balcony-dev/balcony/pkg/version"
)

// Executor performs one run. It never fails: a run that cannot happen is a
// result with a failed outcome and the reason in its report.
type Executor interface {
	Execute(ctx context.Context, req protocol.RunRequest) *protocol.RunResult
}

// repairer says what a CodeSource put right in the local copy of the code
// since it was last asked, such as a mirror left damaged by a crash.
type repairer interface {
	Repairs() []string
}

// Options configures an Agent. Host, StateDir and Executor are required.
type Options struct {
	// Host is the host's identity, a lower-case FQDN.
	Host string
	// StateDir keeps the agent's cursor in RUNS and its lock.
	StateDir string
	Executor Executor
	// Code, when set, updates the local copy of the code at start and on
	// every commit event (with the event's revision), so that a run
	// finds its revision there.
	Code CodeSource
	// Heartbeat is how often the host record is refreshed; default 15s.
	Heartbeat time.Duration
	// Poll is how often the agent checks RUNS even without a live
	// message, as a safety net; default 1 minute.
	Poll time.Duration
	// Version is recorded in the host record; default the build's
	// (version.String).
	Version string
	Log     zerolog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time

	// Commits is the agent's own copy of the code, where an apply's range
	// is checked to be the first-parent chain from the host's last applied
	// revision (Code updates it once when a commit is unknown).
	// Approvals is the approver, asked whether each commit of the range is
	// approved for the digests the apply carries. Without both, every
	// apply is refused.
	Commits   CommitReader
	Approvals Approvals
	// PuppetDisabledLock is the lock file `puppet agent --disable` writes
	// (agent_disabled_lockfile): while it exists applies are skipped, and
	// the heartbeat reports its message. Empty: not checked.
	PuppetDisabledLock string
	// PuppetRunLock is the puppet agent's run lock
	// (agent_catalog_run_lockfile): while it names a live process applies
	// are skipped (noops wait for it, in the executor). Empty: not checked.
	PuppetRunLock string
	// Registerer is where the agent's metrics are registered (metrics.go);
	// nil keeps them private.
	Registerer prometheus.Registerer
}

// Agent is the per-host daemon. Create it with New and start it with Run.
type Agent struct {
	opts   Options
	conn   *bus.Conn
	hosts  jetstream.KeyValue
	cursor *cursorFile
	wake   chan struct{}
	fetch  chan struct{}
	// announced are the revisions commit events announced and the
	// prefetch loop has not fetched yet; announcedAll asks it for
	// whatever is new (an event it could not read).
	announced    []string
	announcedAll bool
	// beatNow asks the heartbeat loop for a write now (a run started or
	// ended).
	beatNow chan struct{}
	log     zerolog.Logger
	started time.Time
	metrics *agentMetrics

	// beforeHeartbeatWrite, when set (by tests), is called by each
	// heartbeat after it read the host record and before it writes it.
	beforeHeartbeatWrite func()
	// catchUpFault, when set (by tests), makes a catch-up fail with its
	// error before it reads RUNS.
	catchUpFault func() error

	mu   sync.Mutex
	busy string // the run in progress
	// live are the runs received live and not read from RUNS yet, with
	// the number of catch-ups that missed them.
	live map[string]int
}

// sawLive records a run received live.
func (a *Agent) sawLive(id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.live == nil {
		a.live = map[string]int{}
	}
	a.live[id] = 0
}

// read records that a run was read from RUNS.
func (a *Agent) read(id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.live, id)
}

func (a *Agent) unread() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.live)
}

// giveUp forgets live runs that catch-up missed many times (a live
// message never stored, say, because its publisher bypassed JetStream) and
// tells whether any was forgotten.
func (a *Agent) giveUp() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	gave := false
	for id, misses := range a.live {
		if misses >= 5 {
			a.log.Warn().Str("run", id).Msg("a run received live was never found in RUNS")
			delete(a.live, id)
			gave = true
			continue
		}
		a.live[id] = misses + 1
	}
	return gave
}

func (a *Agent) busyRun() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.busy
}

func (a *Agent) setBusy(id string) {
	a.mu.Lock()
	a.busy = id
	a.mu.Unlock()
	if id != "" {
		a.metrics.running.Set(1)
	} else {
		a.metrics.running.Set(0)
	}
}

// New checks the options and opens the agent's state. The connection must
// stay open while the Agent runs.
func New(ctx context.Context, conn *bus.Conn, o Options) (*Agent, error) {
	if err := bus.ValidHost(o.Host); err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	if o.StateDir == "" || o.Executor == nil {
		return nil, errors.New("agent: a state directory and an executor are required")
	}
	if o.Heartbeat == 0 {
		o.Heartbeat = 15 * time.Second
	}
	if o.Poll == 0 {
		o.Poll = time.Minute
	}
	if o.Version == "" {
		o.Version = version.String()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if err := os.MkdirAll(o.StateDir, 0o750); err != nil {
		return nil, fmt.Errorf("agent state: %w", err)
	}
	cursor, err := openCursor(o.StateDir)
	if err != nil {
		return nil, err
	}
	if _, err := conn.JS.Stream(ctx, "RUNS"); err != nil {
		cursor.Close()
		return nil, fmt.Errorf("agent: RUNS stream: %w", err)
	}
	hosts, err := conn.JS.KeyValue(ctx, hostinfo.Bucket)
	if err != nil {
		cursor.Close()
		return nil, fmt.Errorf("agent: hosts bucket: %w", err)
	}
	return &Agent{
		opts:    o,
		conn:    conn,
		hosts:   hosts,
		cursor:  cursor,
		wake:    make(chan struct{}, 1),
		fetch:   make(chan struct{}, 1),
		beatNow: make(chan struct{}, 1),
		log:     o.Log.With().Str("component", "agent").Str("host", o.Host).Logger(),
		metrics: newMetrics(o.Registerer),
	}, nil
}

// Run registers the host, then receives and executes runs until ctx is
// cancelled. A run in progress when ctx is cancelled is stopped and not
// recorded as finished, so it runs again at the next start. Run closes the
// agent's state when it returns.
func (a *Agent) Run(ctx context.Context) error {
	defer a.cursor.Close()
	a.started = a.opts.Now()
	subject, err := bus.HostRunsSubject(a.opts.Host)
	if err != nil {
		return err
	}
	sub, err := a.conn.NC.Subscribe(subject, a.onLiveRun)
	if err != nil {
		return fmt.Errorf("subscribe %s: %w", subject, err)
	}
	defer sub.Unsubscribe() //nolint:errcheck // best effort at shutdown
	if a.opts.Code != nil {
		csub, err := a.conn.NC.Subscribe(bus.CommitPrefix+">", a.onCommit)
		if err != nil {
			return fmt.Errorf("subscribe commits: %w", err)
		}
		defer csub.Unsubscribe() //nolint:errcheck // best effort at shutdown
		var prefetch sync.WaitGroup
		defer prefetch.Wait()
		prefetch.Go(func() { a.prefetchLoop(ctx) })
	}
	a.conn.OnReconnect(func() { signal(a.wake) })
	// Registered before it says it started: the nooper asks the hosts
	// the bucket lists.
	a.beat(ctx, "")
	var loops sync.WaitGroup
	defer loops.Wait()
	loops.Go(func() { a.heartbeatLoop(ctx) })
	a.log.Info().Str("subject", subject).Uint64("cursor", a.cursor.Seq()).Msg("agent started")
	a.logRepairs()

	signal(a.wake) // catch up on what arrived while we were away
	poll := time.NewTicker(a.opts.Poll)
	defer poll.Stop()
	// A live run can arrive before RUNS has stored it; the catch-up then
	// finds nothing, and is retried with backoff until the run is read.
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	backoff := time.Duration(0)
	for {
		select {
		case <-ctx.Done():
			a.log.Info().Msg("agent stopping")
			return nil
		case <-a.wake:
			backoff = 0
		case <-poll.C:
		case <-retry.C:
		}
		err := a.catchUp(ctx)
		if err != nil && ctx.Err() == nil {
			a.log.Warn().Err(err).Msg("catching up on runs")
		}
		if err == nil && a.unread() == 0 {
			continue
		}
		backoff = min(max(2*backoff, 20*time.Millisecond), 2*time.Second)
		// Only a catch-up that read RUNS and did not find a live run
		// counts against it: one that failed (a busy server's timeout)
		// says nothing, and is retried.
		if err == nil && backoff == 2*time.Second && a.giveUp() {
			continue // the poll will find them if they ever are stored
		}
		retry.Reset(backoff)
	}
}

// heartbeatLoop refreshes the host record every Heartbeat, and at once
// when a run starts or ends (beatNow): a run never waits for the record's
// write, which a busy server may make slow.
func (a *Agent) heartbeatLoop(ctx context.Context) {
	t := time.NewTicker(a.opts.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-a.beatNow:
		}
		a.beat(ctx, a.busyRun())
	}
}

// heartbeatTimeout bounds one heartbeat's read and write.
const heartbeatTimeout = 30 * time.Second

// beat writes the host record; busy is the run in progress. It writes with
// compare-and-set (hostinfo.Update) and changes only the agent's own
// fields: the applier's (LastApplied, AppliedAt, AppliedRun) stay as
// stored, even when the applier writes between this read and this write.
func (a *Agent) beat(ctx context.Context, busy string) {
	disabled, known := a.puppetDisabled()
	// Longer than JetStream's default of 5s per request: on a busy server
	// (a fleet starting at once) a slow write is better than none, which
	// would leave the host unregistered until the next heartbeat.
	ctx, cancel := context.WithTimeout(ctx, heartbeatTimeout)
	defer cancel()
	_, err := hostinfo.Update(ctx, a.hosts, a.opts.Host, func(info *protocol.HostInfo, _ bool) error {
		info.Version = a.opts.Version
		info.Started = a.started
		info.Seen = a.opts.Now().UTC()
		info.Busy = busy
		if known {
			info.PuppetDisabled = disabled
		}
		if a.beforeHeartbeatWrite != nil {
			a.beforeHeartbeatWrite()
		}
		return nil
	})
	if err != nil && !errors.Is(context.Cause(ctx), context.Canceled) {
		a.log.Warn().Err(err).Msg("heartbeat")
	}
}

// puppetDisabled is the message of Puppet's disable lock ("" when Puppet is
// enabled); known is false when the lock could not be read (logged), and
// the record then keeps what it said.
func (a *Agent) puppetDisabled() (message string, known bool) {
	if a.opts.PuppetDisabledLock == "" {
		return "", true
	}
	msg, _, err := puppet.Disabled(a.opts.PuppetDisabledLock)
	if err != nil {
		a.log.Warn().Err(err).Msg("cannot tell whether puppet is disabled")
		return "", false
	}
	return msg, true
}

// maxAnnounced bounds the revisions queued for the prefetch loop.
const maxAnnounced = 64

// onCommit queues the revision a commit event announces for the prefetch
// loop. The event is only a hint of what to fetch: what is fetched is
// verified (a mirror's git fetch, or codebus's checks).
func (a *Agent) onCommit(m *nats.Msg) {
	var ev protocol.CommitEvent
	err := bus.Unmarshal(m.Data, &ev)
	if err == nil && ev.New == "" {
		err = errors.New("no new revision")
	}
	a.mu.Lock()
	switch {
	case err != nil || len(a.announced) >= maxAnnounced:
		// A backlog longer than this is fetched as "whatever is new".
		a.announced, a.announcedAll = nil, true
	case !slices.Contains(a.announced, ev.New):
		a.announced = append(a.announced, ev.New)
	}
	a.mu.Unlock()
	if err != nil {
		a.log.Warn().Err(err).Str("subject", m.Subject).Msg("a commit event that cannot be read: updating the code from whatever is new")
	}
	signal(a.fetch)
}

// prefetchLoop updates the code at start (a stopped agent catches up on
// what was pushed meanwhile) and then with the revisions commit events
// announce.
func (a *Agent) prefetchLoop(ctx context.Context) {
	signal(a.fetch)
	first := true
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.fetch:
		}
		a.mu.Lock()
		revs, all := a.announced, a.announcedAll || first
		a.announced, a.announcedAll, first = nil, false, false
		a.mu.Unlock()
		if all {
			revs = nil
		}
		if err := a.opts.Code.Update(ctx, revs...); err != nil && ctx.Err() == nil {
			a.log.Warn().Err(err).Strs("revisions", revs).Msg("pre-fetching the code")
		}
		a.logRepairs()
	}
}

// signal wakes a loop without blocking; one pending wake-up is enough.
func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// logRepairs logs what the CodeSource put right in the code's local copy.
func (a *Agent) logRepairs() {
	if r, ok := a.opts.Code.(repairer); ok {
		for _, fix := range r.Repairs() {
			a.log.Warn().Str("fix", fix).Msg("repaired the local copy of the code")
		}
	}
}
