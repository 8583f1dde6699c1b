// Package fleetbench is balcony's fleet load harness (make bench-fleet):
// for each host count it starts an embedded JetStream server in a
// temporary directory (every write synced, as balcony runs it), a fake
// fleet (pkg/fleetsim) answering with recorded real Puppet reports, and
// the real nooper and approver, and measures the goals of issue 16 beside
// raw JetStream doing the same writes in the same run. Figures are
// reported, never asserted; a measurement that exceeds its time budget is
// reported as not finished, and the harness moves on.
package fleetbench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/rs/zerolog"

	"github.com/balcony-dev/balcony"
	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/fleetsim"
	"github.com/balcony-dev/balcony/pkg/gitrepo"
	"github.com/balcony-dev/balcony/pkg/report"
)

// Config configures a benchmark run.
type Config struct {
	// Hosts are the host counts measured, in order.
	Hosts []int
	// Runs is how many times each figure is measured; the table shows
	// the median.
	Runs int
	// Budget bounds each measurement (one run of one figure): past it,
	// the figure is reported as not finished.
	Budget time.Duration
	// Resources is how many resources each host's report has in the
	// delta measurement; default 500.
	Resources int
	// MaxMemory bounds what the delta measurement may allocate (by a
	// linear projection from a tenth of the hosts); default 8 GiB.
	MaxMemory int64
	// Groups is how many change groups the approver's noop has; default
	// 1,000.
	Groups int
	// ReportsDir holds the recorded reports; default fleetsim.ReportsDir.
	ReportsDir string
	// Replicas are the replica counts measured: 1 measures every goal on
	// one embedded server; 3 measures the run fan-out and the report
	// ingest, and raw JetStream's, again on a cluster of three embedded
	// servers with every stream and bucket at 3 replicas. Default: 1.
	Replicas []int
	// ClusterAllHosts measures R3 at every host count; without it, only
	// at the smallest (a cluster costs time the run may not have).
	ClusterAllHosts bool
	// TempDir is where each host count's server and repositories go;
	// default the system's.
	TempDir string
	// Progress, when set, gets a line per figure measured.
	Progress io.Writer
	Log      zerolog.Logger
}

// Figure is one measured goal at one host count: a sample per run, or
// why there is none.
type Figure struct {
	Samples []float64 `json:"samples,omitempty"`
	// Missing says why there are fewer samples than runs (a measurement
	// that did not finish in the budget, or one not measured).
	Missing string `json:"missing,omitempty"`
}

// Median is the median of the samples; false when there are none.
func (f *Figure) Median() (float64, bool) {
	if f == nil || len(f.Samples) == 0 {
		return 0, false
	}
	s := slices.Clone(f.Samples)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2], true
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2, true
}

// Keys of the figures.
const (
	FirstCollection = "first"       // seconds: commit event → noop.ready, 2 noops per host
	Collection      = "collection"  // seconds: commit event → noop.ready, steady state
	FanOut          = "fanout"      // seconds: runs.Asker to every host
	FanOutRaw       = "fanout.raw"  // seconds: js.PublishAsync to every host
	Ingest          = "ingest"      // seconds: N reports stored by the nooper's intake
	IngestRaw       = "ingest.raw"  // seconds: N same-size messages through a plain consumer
	Delta           = "delta"       // seconds: delta.Compute
	DeltaAlloc      = "delta.alloc" // MiB allocated by delta.Compute
	NooperMemory    = "memory"      // MiB of heap in use grown over the collections
	Approver        = "approver"    // seconds: noop.ready → the approver's record

	// The same on the 3-node cluster at 3 replicas.
	FirstCollectionR3 = FirstCollection + r3
	FanOutR3          = FanOut + r3
	FanOutRawR3       = FanOutRaw + r3
	IngestR3          = Ingest + r3
	IngestRawR3       = IngestRaw + r3
)

// r3 ends the keys of figures measured on the cluster.
const r3 = ".r3"

// HostsResult is every figure at one host count.
type HostsResult struct {
	Hosts   int                `json:"hosts"`
	Figures map[string]*Figure `json:"figures"`
	// Once says whether every fake host received exactly one run per
	// revision it was asked for; OnceR3 the same on the cluster, when
	// measured there.
	Once   string `json:"once"`
	OnceR3 string `json:"once_r3,omitempty"`
}

func (h *HostsResult) figure(key string) *Figure {
	f := h.Figures[key]
	if f == nil {
		f = &Figure{}
		h.Figures[key] = f
	}
	return f
}

// Result is a whole benchmark run.
type Result struct {
	Config  Config        `json:"-"`
	Started time.Time     `json:"started"`
	Took    time.Duration `json:"took"`
	Hosts   []HostsResult `json:"hosts"`
}

// Run measures every host count of cfg. It returns an error only when the
// harness itself cannot run (no recorded reports, no server); a figure
// that could not be measured is reported in the result.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if len(cfg.Hosts) == 0 || cfg.Runs < 1 || cfg.Budget <= 0 {
		return nil, errors.New("fleetbench: host counts, at least one run and a budget are required")
	}
	if cfg.Resources == 0 {
		cfg.Resources = 500
	}
	if cfg.MaxMemory == 0 {
		cfg.MaxMemory = 8 << 30
	}
	if cfg.Groups == 0 {
		cfg.Groups = 1000
	}
	if cfg.ReportsDir == "" {
		cfg.ReportsDir = fleetsim.ReportsDir()
	}
	if len(cfg.Replicas) == 0 {
		cfg.Replicas = []int{1}
	}
	for _, r := range cfg.Replicas {
		if r != 1 && r != clusterSize {
			return nil, fmt.Errorf("fleetbench: replicas %d: 1 (one server) or %d (a cluster of %d) are measured", r, clusterSize, clusterSize)
		}
	}
	if cfg.Progress == nil {
		cfg.Progress = io.Discard
	}
	reports, err := fleetsim.LoadReports(cfg.ReportsDir)
	if err != nil {
		return nil, fmt.Errorf("fleetbench: %w", err)
	}
	b := &bench{cfg: cfg, reports: reports, log: cfg.Log}
	res := &Result{Config: cfg, Started: time.Now()}
	for _, n := range cfg.Hosts {
		hr, err := b.hosts(ctx, n)
		if err != nil {
			return nil, err
		}
		res.Hosts = append(res.Hosts, *hr)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	res.Took = time.Since(res.Started)
	return res, nil
}

type bench struct {
	cfg     Config
	reports []*report.Report
	log     zerolog.Logger
}

// env is one host count's server (or cluster), repository and fleet.
type env struct {
	n        int
	replicas int
	dir      string
	cluster  *cluster // nil: one embedded server, conn's
	url      string   // every server's client URL, comma-separated
	conn     *bus.Conn
	shas     []string // the repository's commits, oldest first
	repo     string   // its work tree
	code     *gitrepo.Repo
	fleet    *fleetsim.Fleet
}

// commitsNeeded is how many commits the repository has: the parent and
// the first collection's commit, then one per steady-state run, per
// ingest run and per approver run.
func commitsNeeded(runs int) int { return 2 + 3*runs }

// reportOf is what a host's noop of rev shows: the recorded runs taken
// in the order of the repository's commits, so each commit changes
// something.
func (b *bench) reportOf(shas []string) func(rev string) *report.Report {
	idx := map[string]int{}
	for i, s := range shas {
		idx[s] = i
	}
	return func(rev string) *report.Report {
		i, ok := idx[rev]
		if !ok {
			return nil
		}
		return b.reports[i%len(b.reports)]
	}
}

// key is the key of figure k measured in e.
func (e *env) key(k string) string {
	if e.replicas > 1 {
		return k + r3
	}
	return k
}

// firstIngest is the index of the commit of e's first ingest run: on one
// server the steady-state collections come before.
func (e *env) firstIngest(runs int) int {
	if e.replicas > 1 {
		return 2
	}
	return 2 + runs
}

// newEnv starts n hosts on one embedded server (replicas 1) or on a
// cluster of embedded servers with everything provisioned at replicas.
func (b *bench) newEnv(ctx context.Context, n, replicas int) (*env, error) {
	dir, err := os.MkdirTemp(b.cfg.TempDir, "bench-fleet-*")
	if err != nil {
		return nil, fmt.Errorf("fleetbench: %w", err)
	}
	e := &env{n: n, replicas: replicas, dir: dir}
	if replicas == 1 {
		e.conn, err = bus.Connect(ctx, bus.Options{
			Name:     "bench-fleet",
			Embedded: bus.EmbeddedOptions{DataDir: filepath.Join(dir, "nats"), Listen: "127.0.0.1:0"},
			Log:      b.log,
		})
		if err == nil {
			e.url = e.conn.URL()
		}
	} else if e.cluster, err = startCluster(ctx, filepath.Join(dir, "nats")); err == nil {
		e.url = e.cluster.urls()
		e.conn, err = bus.Connect(ctx, bus.Options{URL: e.url, Name: "bench-fleet", Log: b.log})
	}
	if err != nil {
		e.close()
		return nil, fmt.Errorf("fleetbench: start the server: %w", err)
	}
	if replicas == 1 {
		var decl *bus.Declaration
		if decl, err = bus.ParseDeclaration(balcony.StreamsYAML); err == nil {
			err = bus.Provision(ctx, e.conn.JS, decl)
		}
	} else {
		err = provisionCluster(ctx, e.conn.JS, replicas)
	}
	if err != nil {
		e.close()
		return nil, fmt.Errorf("fleetbench: provision: %w", err)
	}
	e.repo = filepath.Join(dir, "puppet")
	if e.shas, err = fleetsim.NewRepo(e.repo, commitsNeeded(b.cfg.Runs)); err != nil {
		e.close()
		return nil, fmt.Errorf("fleetbench: %w", err)
	}
	if e.code, err = gitrepo.Mirror(ctx, e.repo, filepath.Join(dir, "nooper.git")); err != nil {
		e.close()
		return nil, fmt.Errorf("fleetbench: %w", err)
	}
	e.fleet, err = fleetsim.Start(ctx, fleetsim.Options{URL: e.url, Hosts: n, Reports: b.reportOf(e.shas), Log: b.log})
	if err != nil {
		e.close()
		return nil, fmt.Errorf("fleetbench: %w", err)
	}
	return e, nil
}

func (e *env) close() {
	if e.fleet != nil {
		e.fleet.Close()
	}
	if e.conn != nil {
		e.conn.Close()
	}
	if e.cluster != nil {
		e.cluster.close()
	}
	_ = os.RemoveAll(e.dir)
}

// hosts measures every figure at n hosts: on one server, then the
// fan-out and ingest on the cluster.
func (b *bench) hosts(ctx context.Context, n int) (*HostsResult, error) {
	hr := &HostsResult{Hosts: n, Figures: map[string]*Figure{}}
	if slices.Contains(b.cfg.Replicas, 1) {
		if err := b.single(ctx, n, hr); err != nil {
			return nil, err
		}
	}
	if slices.Contains(b.cfg.Replicas, clusterSize) {
		if smallest := slices.Min(b.cfg.Hosts); !b.cfg.ClusterAllHosts && n > smallest {
			for _, k := range []string{FanOutR3, FanOutRawR3, IngestR3, IngestRawR3, FirstCollectionR3} {
				hr.figure(k).Missing = fmt.Sprintf("not measured: R3 only at the smallest host count, %s, to keep the run short (--cluster-all-hosts)", thousands(smallest))
			}
			b.progress("%d hosts: R3 not measured: only at the smallest host count, %d (--cluster-all-hosts measures it at every count)", n, smallest)
		} else {
			b.replicated(ctx, n, hr)
		}
	}
	return hr, nil
}

// single measures every figure at n hosts on one embedded server.
func (b *bench) single(ctx context.Context, n int, hr *HostsResult) error {
	b.progress("%d hosts: starting the server and the fleet", n)
	e, err := b.newEnv(ctx, n, 1)
	if err != nil {
		return err
	}
	defer e.close()
	var asked []string // revisions every host was asked for once
	asked = append(asked, b.fanOut(ctx, e, hr)...)
	b.ingestRaw(ctx, e, hr)
	b.delta(ctx, n, hr)
	asked = append(asked, b.collections(ctx, e, hr)...)
	b.approver(ctx, e, hr)
	hr.Once = once(e, asked)
	b.progress("%d hosts: every host asked once per revision: %s", n, hr.Once)
	return nil
}

// replicated measures the fan-out and the ingest, and raw JetStream's,
// at n hosts on a cluster at R3. A cluster that does not start is
// reported in the figures: the single server's are worth having anyway.
func (b *bench) replicated(ctx context.Context, n int, hr *HostsResult) {
	b.progress("%d hosts: starting a %d-node cluster at R%d and the fleet", n, clusterSize, clusterSize)
	e, err := b.newEnv(ctx, n, clusterSize)
	if err != nil {
		for _, k := range []string{FanOutR3, FanOutRawR3, IngestR3, IngestRawR3, FirstCollectionR3} {
			hr.figure(k).Missing = "failed: " + err.Error()
		}
		b.progress("%d hosts: R3: %v", n, err)
		return
	}
	defer e.close()
	var asked []string
	asked = append(asked, b.fanOut(ctx, e, hr)...)
	b.ingestRaw(ctx, e, hr)
	asked = append(asked, b.collections(ctx, e, hr)...)
	hr.OnceR3 = once(e, asked)
	b.progress("%d hosts: R3: every host asked once per revision: %s", n, hr.OnceR3)
}

// once says whether every host of e received each revision of asked
// exactly once, and nothing else went wrong in the fleet.
func once(e *env, asked []string) string {
	switch err := e.fleet.CheckOnce(asked); {
	case err != nil:
		return "NO: " + err.Error()
	case e.fleet.Err() != nil:
		return "NO: " + e.fleet.Err().Error()
	}
	return fmt.Sprintf("yes (%d revisions asked of every host once, none twice)", len(asked))
}

// measure runs f within the budget and adds its figure to fig; false
// when it did not finish (fig says why).
func (b *bench) measure(ctx context.Context, n int, key string, fig *Figure, f func(ctx context.Context) (float64, error)) bool {
	mctx, cancel := context.WithTimeout(ctx, b.cfg.Budget)
	defer cancel()
	v, err := f(mctx)
	switch {
	case err == nil:
		fig.Samples = append(fig.Samples, v)
		b.progress("%d hosts: %s %s", n, key, format(key, v))
		return true
	case ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded):
		fig.Missing = fmt.Sprintf("did not finish in %s", b.cfg.Budget)
	default:
		fig.Missing = "failed: " + err.Error()
	}
	b.progress("%d hosts: %s %s", n, key, fig.Missing)
	return false
}

func (b *bench) progress(format string, args ...any) {
	fmt.Fprintf(b.cfg.Progress, "bench-fleet: "+format+"\n", args...)
}

// format renders a sample of the figure key.
func format(key string, v float64) string {
	switch key {
	case DeltaAlloc, NooperMemory:
		return fmt.Sprintf("%.0f MiB", v)
	}
	return fmt.Sprintf("%.3f s", v)
}
