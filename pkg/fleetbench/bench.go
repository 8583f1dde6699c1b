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
)

// HostsResult is every figure at one host count.
type HostsResult struct {
	Hosts   int                `json:"hosts"`
	Figures map[string]*Figure `json:"figures"`
	// Once says whether every fake host received exactly one run per
	// revision it was asked for.
	Once string `json:"once"`
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

// env is one host count's server, repository and fleet.
type env struct {
	n     int
	dir   string
	conn  *bus.Conn
	shas  []string // the repository's commits, oldest first
	repo  string   // its work tree
	code  *gitrepo.Repo
	fleet *fleetsim.Fleet
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

func (b *bench) newEnv(ctx context.Context, n int) (*env, error) {
	dir, err := os.MkdirTemp(b.cfg.TempDir, "bench-fleet-*")
	if err != nil {
		return nil, fmt.Errorf("fleetbench: %w", err)
	}
	e := &env{n: n, dir: dir}
	e.conn, err = bus.Connect(ctx, bus.Options{
		Name:     "bench-fleet",
		Embedded: bus.EmbeddedOptions{DataDir: filepath.Join(dir, "nats"), Listen: "127.0.0.1:0"},
		Log:      b.log,
	})
	if err != nil {
		e.close()
		return nil, fmt.Errorf("fleetbench: start the server: %w", err)
	}
	decl, err := bus.ParseDeclaration(balcony.StreamsYAML)
	if err == nil {
		err = bus.Provision(ctx, e.conn.JS, decl)
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
	e.fleet, err = fleetsim.Start(ctx, fleetsim.Options{URL: e.conn.URL(), Hosts: n, Reports: b.reportOf(e.shas), Log: b.log})
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
	_ = os.RemoveAll(e.dir)
}

// hosts measures every figure at n hosts.
func (b *bench) hosts(ctx context.Context, n int) (*HostsResult, error) {
	b.progress("%d hosts: starting the server and the fleet", n)
	e, err := b.newEnv(ctx, n)
	if err != nil {
		return nil, err
	}
	defer e.close()
	hr := &HostsResult{Hosts: n, Figures: map[string]*Figure{}}
	var asked []string // revisions every host was asked for once
	asked = append(asked, b.fanOut(ctx, e, hr)...)
	b.ingestRaw(ctx, e, hr)
	b.delta(ctx, n, hr)
	asked = append(asked, b.collections(ctx, e, hr)...)
	b.approver(ctx, e, hr)
	switch err := e.fleet.CheckOnce(asked); {
	case err != nil:
		hr.Once = "NO: " + err.Error()
	case e.fleet.Err() != nil:
		hr.Once = "NO: " + e.fleet.Err().Error()
	default:
		hr.Once = fmt.Sprintf("yes (%d revisions asked of every host once, none twice)", len(asked))
	}
	b.progress("%d hosts: every host asked once per revision: %s", n, hr.Once)
	return hr, nil
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
