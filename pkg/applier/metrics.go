package applier

import (
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/balcony-dev/balcony/pkg/metrics"
	"github.com/balcony-dev/balcony/pkg/runs"
)

// applierMetrics are the applier's collectors (the applies it asks are
// counted by runs.Metrics, on the same registry). Labels are bounded:
// outcome is complete or cancelled, state one of the host states.
type applierMetrics struct {
	// rollout is how long a rollout took, from planned to complete.
	rollout *prometheus.HistogramVec
	// rollouts counts rollouts begun; halts the halts of rollouts.
	rollouts prometheus.Counter
	halts    prometheus.Counter
	// hosts counts hosts finished, by state (done, failed, skipped).
	hosts *prometheus.CounterVec
	// halted is 1 while the current rollout is halted; active while one
	// runs (halted or not).
	halted, active prometheus.Gauge
	runs           *runs.Metrics
}

func newMetrics(reg prometheus.Registerer) *applierMetrics {
	reg = metrics.Or(reg)
	gauge := func(name, help string) prometheus.Gauge {
		return metrics.Register(reg, prometheus.NewGauge(prometheus.GaugeOpts{Namespace: metrics.Namespace, Subsystem: "applier", Name: name, Help: help}))
	}
	counter := func(name, help string) prometheus.Counter {
		return metrics.Register(reg, prometheus.NewCounter(prometheus.CounterOpts{Namespace: metrics.Namespace, Subsystem: "applier", Name: name, Help: help}))
	}
	return &applierMetrics{
		rollout: metrics.Register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: metrics.Namespace, Subsystem: "applier", Name: "rollout_seconds",
			Help: "How long a rollout took, from planned to its end, by outcome (complete, cancelled).",
			// Sets apply one after the other, with soaks and gates
			// between them: minutes to days.
			Buckets: []float64{60, 300, 900, 1800, 3600, 2 * 3600, 4 * 3600, 8 * 3600, 24 * 3600, 3 * 24 * 3600},
		}, []string{"outcome"})),
		rollouts: counter("rollouts_total", "Rollouts begun."),
		halts:    counter("halts_total", "Times a rollout halted (a threshold crossed, or an operator's halt)."),
		hosts: metrics.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metrics.Namespace, Subsystem: "applier", Name: "hosts_total",
			Help: "Hosts whose apply ended, by state (done, failed, skipped).",
		}, []string{"state"})),
		halted: gauge("rollout_halted", "1 while the current rollout is halted: nothing new starts until an operator resumes it."),
		active: gauge("rollout_active", "1 while a rollout is under way (halted or not)."),
		runs:   runs.NewMetrics(reg),
	}
}

// announced counts what the applier announced of r, at now: each event
// is announced once per rollout (announce), so counted once.
func (m *applierMetrics) announced(what string, r *Rollout, now time.Time) {
	switch what {
	case "halted":
		m.halts.Inc()
	case "complete", "cancelled":
		m.rollout.WithLabelValues(what).Observe(now.Sub(r.Created).Seconds())
	case "host.done", "host.failed", "host.skipped":
		m.hosts.WithLabelValues(strings.TrimPrefix(what, "host.")).Inc()
	}
}

// show sets the gauges from the current rollout (nil: none).
func (m *applierMetrics) show(r *Rollout) {
	active, halted := 0.0, 0.0
	if r != nil && !r.Over() {
		active = 1
		if r.Progress.Halted != nil {
			halted = 1
		}
	}
	m.active.Set(active)
	m.halted.Set(halted)
}
