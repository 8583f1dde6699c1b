// Package applier is balcony's fifth daemon: it applies the newest commit
// whose whole range since each host's last applied revision is approved,
// set by set (pkg/rollout plans the sets and says what to do next), asks
// each host for a real apply through the run machinery the nooper also
// uses (pkg/runs), reconciles each host's apply report with that host's
// own noop of the target (pkg/reconcile), records the host's new last
// applied revision with compare-and-set (pkg/hostinfo), and keeps the
// rollout in its rollout bucket, so that a restarted applier resumes it
// and applies no host twice.
//
// One goroutine, the loop, owns the rollout: reports, ticks and
// operators' verbs reach it through a channel, so no lock is held across
// the bus or git I/O and the rollout never changes under a step.
package applier

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/balcony-dev/balcony/pkg/approver"
	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/delta"
	"github.com/balcony-dev/balcony/pkg/hostinfo"
	"github.com/balcony-dev/balcony/pkg/nooper"
	"github.com/balcony-dev/balcony/pkg/protocol"
	"github.com/balcony-dev/balcony/pkg/rollout"
	"github.com/balcony-dev/balcony/pkg/runs"
	"github.com/balcony-dev/balcony/pkg/version"
)

// CodeReader is the applier's own mirror of the repository: the branch's
// first-parent chain is read from it, never from the bus.
type CodeReader interface {
	Branches() (map[string]string, error)
	Commit(rev string) (protocol.Commit, error)
	Resolve(rev string) (string, error)
	Fetch(ctx context.Context) error
}

// Approvals gives a commit's approval state: approver.Client does,
// through the approver's status service.
type Approvals interface {
	Status(ctx context.Context, rev string) (*approver.StatusReply, error)
}

// Noops gives a host's stored noop of a revision: nooper.Client does,
// through the nooper's report service.
type Noops interface {
	Report(ctx context.Context, rev, host string) (*protocol.RunResult, error)
}

// Config is the applier's configuration file: the rollout's sets and
// limits (pkg/rollout, docs/rollout.md) and the resources whose changes
// reconciliation excuses (the nooper's ignored_resources, same format).
type Config struct {
	rollout.Config   `yaml:",inline"`
	IgnoredResources []nooper.IgnoredConfig `yaml:"ignored_resources"`
}

// Validate checks the sets and the ignored resources.
func (c Config) Validate() error {
	if err := c.Config.Validate(); err != nil {
		return err
	}
	return nooper.Config{IgnoredResources: c.IgnoredResources}.Validate()
}

// Options configures the applier. Code is required.
type Options struct {
	Code CodeReader
	// Branch is the branch applied; default main.
	Branch string
	// Config is the sets and limits; its zero value means
	// rollout.DefaultConfig.
	Config Config
	// Approvals default to an approver.Client, Noops to a nooper.Client,
	// on the applier's connection.
	Approvals Approvals
	Noops     Noops
	// RunTimeout is how long a host has to answer an apply; default 30
	// minutes. A host that has not answered Grace after it is failed.
	RunTimeout time.Duration
	Grace      time.Duration
	// Poll is how often the applier looks for a newer approved target
	// when no rollout is running; default 30s.
	Poll time.Duration
	// Tick is how often a running rollout is stepped; default 1s.
	Tick time.Duration
	// List runs a set's command and returns the host names it printed;
	// default runs it with a one-minute timeout.
	List func(ctx context.Context, argv []string) ([]string, error)
	// Version is reported on the micro-service API; default the build's.
	Version string
	Durable string // consumer name; default "applier"
	Log     zerolog.Logger
	Now     func() time.Time
	// Registerer is where the applier's metrics are registered
	// (metrics.go); nil keeps them private.
	Registerer prometheus.Registerer
}

// Applier is the service. Create it with New, start it with Run.
type Applier struct {
	opts    Options
	conn    *bus.Conn
	store   *store
	hosts   jetstream.KeyValue
	runs    jetstream.Stream
	asker   runs.Asker
	metrics *applierMetrics
	ignore  []delta.IgnoredResource
	log     zerolog.Logger

	// cur is the current rollout, owned by the loop goroutine.
	cur *Rollout
	// unsent are running hosts whose run may not have reached RUNS (a
	// publish that failed, or a restart): checked and sent again, with
	// the same id, at the next step.
	unsent map[string]bool
	// blocked says why no rollout runs, for status.
	blocked string
	// lastPoll is when the loop last looked for a target.
	lastPoll time.Time

	// work carries reports and operators' verbs to the loop.
	work chan job
	// view is what status answers, replaced by the loop after each change.
	view viewBox
}

// job is one piece of work for the loop; done gets its outcome.
type job struct {
	do   func(ctx context.Context) (any, error)
	done chan jobResult
}

type jobResult struct {
	v   any
	err error
}

// New checks the options and opens the buckets.
func New(ctx context.Context, conn *bus.Conn, o Options) (*Applier, error) {
	if o.Code == nil {
		return nil, errors.New("applier: a code reader (the repository) is required")
	}
	if o.Branch == "" {
		o.Branch = "main"
	}
	if len(o.Config.ApplySets) == 0 {
		o.Config.Config = rollout.DefaultConfig()
	}
	if err := o.Config.Validate(); err != nil {
		return nil, fmt.Errorf("applier: config: %w", err)
	}
	if o.RunTimeout == 0 {
		o.RunTimeout = 30 * time.Minute
	}
	if o.Grace == 0 {
		o.Grace = time.Minute
	}
	if o.Poll == 0 {
		o.Poll = 30 * time.Second
	}
	if o.Tick == 0 {
		o.Tick = time.Second
	}
	if o.List == nil {
		o.List = listHosts
	}
	if o.Version == "" {
		o.Version = version.String()
	}
	if o.Durable == "" {
		o.Durable = "applier"
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Approvals == nil {
		o.Approvals = approver.Client{NC: conn.NC}
	}
	if o.Noops == nil {
		o.Noops = nooper.Client{NC: conn.NC}
	}
	kv, err := conn.JS.KeyValue(ctx, "rollout")
	if err != nil {
		return nil, fmt.Errorf("applier: rollout bucket: %w", err)
	}
	hosts, err := conn.JS.KeyValue(ctx, hostinfo.Bucket)
	if err != nil {
		return nil, fmt.Errorf("applier: hosts bucket: %w", err)
	}
	runStream, err := conn.JS.Stream(ctx, "RUNS")
	if err != nil {
		return nil, fmt.Errorf("applier: RUNS stream: %w", err)
	}
	log := o.Log.With().Str("component", "applier").Logger()
	m := newMetrics(o.Registerer)
	return &Applier{
		opts: o, conn: conn, store: &store{kv: kv}, hosts: hosts, runs: runStream, metrics: m,
		asker:  runs.Asker{Conn: conn, Kind: protocol.KindApply, RequestedBy: "applier", Timeout: o.RunTimeout, Log: log, Metrics: m.runs},
		ignore: nooper.Config{IgnoredResources: o.Config.IgnoredResources}.Delta().Ignored,
		log:    log,
		unsent: map[string]bool{},
		work:   make(chan job),
	}, nil
}

// Run drives rollouts and answers the applier's verbs until ctx is
// cancelled.
func (a *Applier) Run(ctx context.Context) error {
	cur, err := a.store.current(ctx)
	if err != nil {
		return fmt.Errorf("applier: %w", err)
	}
	a.cur = cur
	if cur != nil && !cur.Over() {
		// Whatever was running may not have been sent before a crash.
		for host, h := range cur.Progress.Hosts {
			if h.State == rollout.Running {
				a.unsent[host] = true
			}
		}
		a.log.Info().Str("rollout", cur.ID).Str("target", cur.Target.SHA).Int("running", len(a.unsent)).Msg("resuming the rollout")
	}
	a.publishView()
	cc, err := a.conn.Consume(ctx, "applier", bus.Durable{
		Stream: "REPORTS", Name: a.opts.Durable + "-reports", Description: "applier: apply reports",
		Filter: bus.ReportPrefix + protocol.KindApply + ".>",
	}, a.onReport)
	if err != nil {
		return fmt.Errorf("applier: %w", err)
	}
	defer cc.Stop()
	svc, err := a.addService(ctx)
	if err != nil {
		return fmt.Errorf("applier: micro service: %w", err)
	}
	defer func() { _ = svc.Stop() }()
	a.log.Info().Str("branch", a.opts.Branch).Int("sets", len(a.opts.Config.ApplySets)).Float64("run_timeout_seconds", a.opts.RunTimeout.Seconds()).Msg("applier started")
	tick := time.NewTicker(a.opts.Tick)
	defer tick.Stop()
	a.tick(ctx)
	for {
		select {
		case <-ctx.Done():
			a.log.Info().Msg("applier stopping")
			return nil
		case j := <-a.work:
			v, err := j.do(ctx)
			j.done <- jobResult{v, err}
			a.publishView()
		case <-tick.C:
			a.tick(ctx)
		}
	}
}

// submit runs do on the loop and returns its outcome; it fails when ctx
// ends first.
func (a *Applier) submit(ctx context.Context, do func(ctx context.Context) (any, error)) (any, error) {
	j := job{do: do, done: make(chan jobResult, 1)}
	select {
	case a.work <- j:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case r := <-j.done:
		return r.v, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// tick looks for a target when nothing runs, and steps the rollout.
func (a *Applier) tick(ctx context.Context) {
	now := a.opts.Now()
	if (a.cur == nil || a.cur.Over()) && now.Sub(a.lastPoll) >= a.opts.Poll {
		a.lastPoll = now
		if err := a.begin(ctx); err != nil && ctx.Err() == nil {
			a.log.Warn().Err(err).Msg("looking for an approved commit to apply")
		}
	}
	if err := a.step(ctx); err != nil && ctx.Err() == nil {
		a.log.Warn().Err(err).Msg("stepping the rollout")
	}
	a.publishView()
}

// hosts lists the hosts' records.
func (a *Applier) hostRecords(ctx context.Context) ([]protocol.HostInfo, error) {
	return hostinfo.List(ctx, a.hosts)
}

// listHosts runs argv and returns the host names it printed, one per
// line (blank lines and # comments left out).
func listHosts(ctx context.Context, argv []string) ([]string, error) {
	if len(argv) == 0 {
		return nil, errors.New("empty command")
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && len(ee.Stderr) > 0 {
			return nil, fmt.Errorf("%s: %w: %s", argv[0], err, strings.TrimSpace(string(ee.Stderr)))
		}
		return nil, fmt.Errorf("%s: %w", argv[0], err)
	}
	var hosts []string
	for _, line := range strings.Split(string(out), "\n") {
		line = strings.ToLower(strings.TrimSpace(line))
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		hosts = append(hosts, line)
	}
	return hosts, nil
}
