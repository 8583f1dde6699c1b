package nooper

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/balcony-dev/balcony/pkg/metrics"
	"github.com/balcony-dev/balcony/pkg/runs"
)

// nooperMetrics are the nooper's collectors (the runs it asks are
// counted by runs.Metrics, on the same registry).
type nooperMetrics struct {
	// collection is how long a commit's noop took, from its first ask to
	// ready; outcome is "complete" (every host answered) or "incomplete".
	collection *prometheus.HistogramVec
	runs       *runs.Metrics
	// fleet is the hosts seen, counted at each scrape: the one registered
	// before on the same registry (a nooper restarted in one process).
	fleet *fleet
}

func newMetrics(reg prometheus.Registerer, stale time.Duration, now func() time.Time) *nooperMetrics {
	reg = metrics.Or(reg)
	return &nooperMetrics{
		fleet: metrics.Register(reg, newFleet(stale, now)),
		collection: metrics.Register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: metrics.Namespace, Subsystem: "nooper", Name: "collection_seconds",
			Help: "Time from a commit's first noop asked to its noop ready, by outcome (complete: every host answered; incomplete: some did not).",
			// Hosts answer in seconds to a run timeout (10m by default); a
			// collection lasts at most its timeout (30m by default).
			Buckets: []float64{5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600},
		}, []string{"outcome"})),
		runs: runs.NewMetrics(reg),
	}
}

// observeCollection records a finished collection's duration.
func (m *nooperMetrics) observeCollection(took time.Duration, unanswered int) {
	outcome := "complete"
	if unanswered > 0 {
		outcome = "incomplete"
	}
	m.collection.WithLabelValues(outcome).Observe(took.Seconds())
}

// fleet is the hosts the nooper has seen in the hosts bucket, with their
// last heartbeat: the watch of the bucket (applied.go) notes them, and a
// scrape counts them. It has its own lock: the watch never waits for a
// step, and a scrape never for either.
type fleet struct {
	stale time.Duration
	now   func() time.Time
	known *prometheus.Desc
	old   *prometheus.Desc

	mu   sync.Mutex
	seen map[string]time.Time
}

func newFleet(stale time.Duration, now func() time.Time) *fleet {
	return &fleet{
		stale: stale, now: now, seen: map[string]time.Time{},
		known: prometheus.NewDesc(metrics.Namespace+"_nooper_hosts", "Hosts known from the hosts bucket.", nil, nil),
		old: prometheus.NewDesc(metrics.Namespace+"_nooper_hosts_stale",
			"Hosts whose last heartbeat is older than the stale threshold (--stale-host): they are not asked for noops.", nil, nil),
	}
}

// note records host's last heartbeat.
func (f *fleet) note(host string, seen time.Time) {
	f.mu.Lock()
	f.seen[host] = seen
	f.mu.Unlock()
}

// forget drops a host whose record was deleted.
func (f *fleet) forget(host string) {
	f.mu.Lock()
	delete(f.seen, host)
	f.mu.Unlock()
}

// counts are the hosts known and the stale ones among them.
func (f *fleet) counts() (known, stale int) {
	now := f.now()
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, seen := range f.seen {
		if now.Sub(seen) > f.stale {
			stale++
		}
	}
	return len(f.seen), stale
}

// Describe implements prometheus.Collector.
func (f *fleet) Describe(ch chan<- *prometheus.Desc) {
	ch <- f.known
	ch <- f.old
}

// Collect implements prometheus.Collector.
func (f *fleet) Collect(ch chan<- prometheus.Metric) {
	known, stale := f.counts()
	ch <- prometheus.MustNewConstMetric(f.known, prometheus.GaugeValue, float64(known))
	ch <- prometheus.MustNewConstMetric(f.old, prometheus.GaugeValue, float64(stale))
}
