package fleetbench

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// row is one line of the table: a goal of issue 16 and its figure.
type row struct {
	key, goal, target string
	// raw are the raw JetStream figures shown beside it, summed.
	raw []string
	// ratio shows raw / figure as a percentage (a throughput compared
	// with raw JetStream's).
	ratio bool
	// cluster rows are shown only when R3 was measured.
	cluster bool
}

var rows = []row{
	{key: Collection, goal: "commit event → delta ready, steady state (parent's noop known, 1 noop per host)",
		target: "≤ 1 s at 1,000 hosts, ≤ 5 s at 10,000", raw: []string{FanOutRaw, IngestRaw}},
	{key: FirstCollection, goal: "first collection (commit and parent: 2 noops per host; one run)", target: "—"},
	{key: FanOut, goal: "run fan-out (runs.Asker, until the last host has its run)",
		target: "≤ 0.5 s at 2,000 hosts", raw: []string{FanOutRaw}},
	{key: Ingest, goal: "report ingest (until the nooper's intake stored every report)",
		target: "≥ 50% of raw JetStream", raw: []string{IngestRaw}, ratio: true},
	{key: FanOutR3, goal: "run fan-out at R3 (3-node cluster of embedded servers, every stream and bucket at 3 replicas)",
		target: "reported (docs/cluster.md)", raw: []string{FanOutRawR3}, cluster: true},
	{key: IngestR3, goal: "report ingest at R3 (3-node cluster, as above)",
		target: "≥ 50% of raw JetStream at R3", raw: []string{IngestRawR3}, ratio: true, cluster: true},
	{key: FirstCollectionR3, goal: "first collection at R3 (3-node cluster, as above)", target: "—", cluster: true},
	{key: Delta, goal: "delta and grouping (delta.Compute, hosts × 500 resources): time", target: "≤ 1 s at 10,000 hosts"},
	{key: DeltaAlloc, goal: "delta and grouping: memory allocated (TotalAlloc during Compute)", target: "≤ 1 GiB at 10,000 hosts"},
	{key: NooperMemory, goal: "nooper memory: heap in use grown over the collections (whole process: nooper, fake fleet, embedded server)",
		target: "reported; linear or better"},
	{key: Approver, goal: "approver: noop.ready of every host and 1,000 groups → its record",
		target: "≤ 1 s at 10,000 hosts"},
}

// Table renders the result as a Markdown table: each goal, its target,
// the median figure at each host count with raw JetStream beside it, and
// how it grew from the first host count to the last.
func (r *Result) Table() string {
	var b strings.Builder
	b.WriteString("| goal | target |")
	sep := "|---|---|"
	for _, h := range r.Hosts {
		fmt.Fprintf(&b, " %s hosts |", thousands(h.Hosts))
		sep += "---|"
	}
	if len(r.Hosts) > 1 {
		first, last := r.Hosts[0].Hosts, r.Hosts[len(r.Hosts)-1].Hosts
		fmt.Fprintf(&b, " growth %s → %s (hosts ×%s) |", thousands(first), thousands(last), ratioText(float64(last)/float64(first)))
		sep += "---|"
	}
	b.WriteString("\n" + sep + "\n")
	for _, rw := range rows {
		if rw.cluster && !r.clustered() {
			continue
		}
		fmt.Fprintf(&b, "| %s | %s |", rw.goal, rw.target)
		for i := range r.Hosts {
			fmt.Fprintf(&b, " %s |", r.cell(&r.Hosts[i], rw))
		}
		if len(r.Hosts) > 1 {
			fmt.Fprintf(&b, " %s |", r.growth(rw.key))
		}
		b.WriteString("\n")
	}
	b.WriteString("\nEvery fake host received exactly one run per revision asked:")
	for _, h := range r.Hosts {
		fmt.Fprintf(&b, " %s hosts: %s.", thousands(h.Hosts), orNot(h.Once))
		if h.OnceR3 != "" {
			fmt.Fprintf(&b, " %s hosts at R3: %s.", thousands(h.Hosts), h.OnceR3)
		}
	}
	b.WriteString("\n")
	return b.String()
}

// clustered tells whether R3 was measured (or tried) at any host count.
func (r *Result) clustered() bool {
	for _, h := range r.Hosts {
		if h.Figures[FanOutR3] != nil || h.Figures[IngestR3] != nil {
			return true
		}
	}
	return false
}

func orNot(s string) string {
	if s == "" {
		return "not measured"
	}
	return s
}

func (r *Result) cell(h *HostsResult, rw row) string {
	f := h.Figures[rw.key]
	v, ok := f.Median()
	if !ok {
		if f == nil {
			return "not measured"
		}
		return f.Missing
	}
	s := format(rw.key, v)
	if len(f.Samples) < r.Config.Runs && rw.key != NooperMemory && rw.key != FirstCollection && rw.key != FirstCollectionR3 {
		s += fmt.Sprintf(" (%d of %d runs; then %s)", len(f.Samples), r.Config.Runs, f.Missing)
	}
	if len(rw.raw) > 0 {
		sum, all := 0.0, true
		for _, k := range rw.raw {
			rv, ok := h.Figures[k].Median()
			sum, all = sum+rv, all && ok
		}
		if all {
			s += " · raw " + format(rw.key, sum)
			if rw.ratio && v > 0 {
				s += fmt.Sprintf(" (%.0f%% of raw)", 100*sum/v)
			}
		}
	}
	return s
}

// growth is how the figure key grew from the first host count to the
// last; "—" when either is missing.
func (r *Result) growth(key string) string {
	a, ok1 := r.Hosts[0].Figures[key].Median()
	z, ok2 := r.Hosts[len(r.Hosts)-1].Figures[key].Median()
	if !ok1 || !ok2 || a <= 0 {
		return "—"
	}
	return "×" + ratioText(z/a)
}

func ratioText(x float64) string {
	if x >= 10 {
		return fmt.Sprintf("%.0f", x)
	}
	return fmt.Sprintf("%.1f", x)
}

func thousands(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// Machine describes where the benchmark ran, for the document.
type Machine struct {
	CPUs   int
	Memory string // total memory, as /proc/meminfo says
	Go     string
	Commit string
	Date   time.Time
}

// ThisMachine describes this machine; commit is the source's (the
// Makefile gives git's description).
func ThisMachine(commit string) Machine {
	m := Machine{CPUs: runtime.NumCPU(), Go: runtime.Version(), Commit: commit, Date: time.Now().UTC(), Memory: "unknown"}
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				var kb int64
				if _, err := fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), &kb); err == nil {
					m.Memory = fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
				}
			}
		}
	}
	return m
}

// WriteDocs writes the Markdown document (the table, the machine, what
// each figure measures) to md and the plot of time against hosts to png,
// whose name md links to.
func (r *Result) WriteDocs(md, png string, m Machine) error {
	if err := r.Plot(png); err != nil {
		return err
	}
	var b strings.Builder
	hosts := make([]string, len(r.Hosts))
	for i, h := range r.Hosts {
		hosts[i] = fmt.Sprint(h.Hosts)
	}
	fmt.Fprintf(&b, "# Fleet benchmark\n\n")
	fmt.Fprintf(&b, "Written by `make bench-fleet HOSTS=%s RUNS=%d` (cmd/bench-fleet, pkg/fleetbench): medians of %d runs,\n",
		strings.Join(hosts, ","), r.Config.Runs, r.Config.Runs)
	fmt.Fprintf(&b, "each measurement bounded by %s. The goals are issue 16's; figures are reported, never asserted.\n\n", r.Config.Budget)
	fmt.Fprintf(&b, "Machine: %d CPUs, %s memory, %s, commit %s, %s; the run took %s.\n\n",
		m.CPUs, m.Memory, m.Go, m.Commit, m.Date.Format("2006-01-02 15:04 UTC"), r.Took.Round(time.Second))
	b.WriteString(r.Table())
	fmt.Fprintf(&b, "\n![time against hosts](%s)\n\n", filepath.Base(png))
	b.WriteString(method)
	return os.WriteFile(md, []byte(b.String()), 0o644)
}

const method = `## What is measured

Everything runs in one process: an embedded nats-server in a temporary directory with every
write synced (` + "`sync_interval: always`" + `, balcony's default), a fake fleet (pkg/fleetsim: hosts
registered in the hosts bucket with a fresh heartbeat, subscribed to their run subjects on 8
shared connections, answering each noop at once with a recorded real Puppet 7.23 report of
pkg/report/testdata with their own name put in, at most 64 answers being published at once),
the real nooper and approver, and a real git repository (go-git) the nooper mirrors.

- **Steady state**: after a first collection of commit 1 (commit and parent nooped on every
  host), each run pushes the next commit: the parent's reports are stored, so every host is
  asked one noop. Timed from the commit event's publication to the nooper's ` + "`noop.ready`" + `
  event. Raw beside it: the raw fan-out plus the raw ingest, one run and one report per host
  through bare JetStream.
- **Fan-out**: ` + "`runs.Asker`" + ` asking every host as the nooper does (` + "`Request`" + ` for each, then
  ` + "`PublishAll`" + `), until the last host received its run. Raw: the same number of run requests of the same size
  published with ` + "`PublishAsync`" + ` (at most 256 acks in flight), delivered to the same subscriptions.
- **Ingest**: the hosts hold their answers until every host has its run, then publish them all;
  timed until the nooper stored every report (its writes to the reports bucket). Raw: as many
  messages of the same size published the same way to REPORTS and consumed, acked one by one,
  by a plain durable consumer. The percentage is raw time / intake time.
- **Delta**: ` + "`delta.Compute`" + ` over every host, commit and parent noops two consecutive recorded
  runs replicated to 500 resources with distinct titles; memory is what the call allocated
  (TotalAlloc), an upper bound of its peak.
- **Nooper memory**: the process's heap in use (runtime.MemStats.HeapInuse, after a GC) after
  the steady-state collections minus before the nooper started; it includes what the fake fleet
  and the embedded server grew meanwhile.
- **R3** (rows "at R3", when measured): the fan-out and the ingest, and raw JetStream's beside
  them, measured the same way on a cluster of three embedded nats-servers in the same process,
  routed to each other on loopback ports, each with its own store and every write synced; every
  stream, bucket and object store provisioned at 3 replicas (` + "`bus.ProvisionDeclaredReplicas`" + `),
  and the harness, the fleet and the nooper connected with the three URLs, as
  [cluster.md](cluster.md) deploys it. A first collection (shown) comes before the ingest runs;
  the steady state, delta, memory and approver are not measured there. Only at the smallest host
  count unless ` + "`--cluster-all-hosts`" + `. The three servers share this machine's cores and disk:
  these are the figures of one machine holding all three copies, not of three machines.
- **Approver**: a ` + "`noop.ready`" + ` of a commit whose noop (built in memory and handed to the approver
  directly, so the nooper's collection service is not measured) has every host and 1,000 groups
  (group g on the hosts whose index is g modulo 1,000, the first ten on every host); timed until
  the approver's record of the commit is written, after it announced what is needed.
`

// Plot draws the time figures against hosts into a PNG file.
func (r *Result) Plot(path string) error {
	p := plot.New()
	p.Title.Text = "balcony fleet benchmark (medians)"
	p.X.Label.Text = "hosts (log)"
	p.Y.Label.Text = "seconds (log)"
	var lines []any
	for _, k := range []struct{ key, name string }{
		{Collection, "commit → delta ready (steady)"}, {FirstCollection, "first collection"},
		{FanOut, "fan-out (runs.Asker)"}, {FanOutRaw, "fan-out (raw JetStream)"},
		{Ingest, "ingest (nooper)"}, {IngestRaw, "ingest (raw JetStream)"},
		{FanOutR3, "fan-out R3 (runs.Asker)"}, {FanOutRawR3, "fan-out R3 (raw JetStream)"},
		{IngestR3, "ingest R3 (nooper)"}, {IngestRawR3, "ingest R3 (raw JetStream)"},
		{Delta, "delta.Compute"}, {Approver, "approver"},
	} {
		var pts plotter.XYs
		for _, h := range r.Hosts {
			if v, ok := h.Figures[k.key].Median(); ok && v > 0 { // a log scale has no 0
				pts = append(pts, plotter.XY{X: float64(h.Hosts), Y: v})
			}
		}
		if len(pts) > 0 {
			lines = append(lines, k.name, pts)
		}
	}
	// Log scales: linear growth is a slope of one, whatever the figure.
	p.X.Scale, p.Y.Scale = plot.LogScale{}, plot.LogScale{}
	p.X.Tick.Marker, p.Y.Tick.Marker = plot.LogTicks{Prec: -1}, plot.LogTicks{Prec: -1}
	if err := plotutil.AddLinePoints(p, lines...); err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	p.Legend.Top, p.Legend.Left = true, true
	if err := p.Save(9*vg.Inch, 6*vg.Inch, path); err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	return nil
}

// Print writes the table and how long the run took.
func (r *Result) Print(w io.Writer) {
	fmt.Fprintf(w, "\n%s\nmedians of %d runs; %d CPUs, %s; took %s\n", r.Table(), r.Config.Runs, runtime.NumCPU(), runtime.Version(), r.Took.Round(time.Second))
}
