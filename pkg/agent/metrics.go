package agent

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/balcony-dev/balcony/pkg/metrics"
	"github.com/balcony-dev/balcony/pkg/protocol"
)

// agentMetrics are the agent's collectors. Labels are bounded: kind is
// noop or apply, outcome one of protocol's outcomes (or
// "resources_failed", a run whose report shows failed resources); the
// host is the agent's own, a target label of the scrape, never a metric
// label.
type agentMetrics struct {
	puppet  *prometheus.HistogramVec
	runs    *prometheus.CounterVec
	running prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *agentMetrics {
	reg = metrics.Or(reg)
	return &agentMetrics{
		puppet: metrics.Register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: metrics.Namespace, Subsystem: "agent", Name: "puppet_seconds",
			Help: "How long Puppet ran, by kind (noop, apply) and outcome (done, resources_failed, failed: no report).",
			// A noop takes seconds to minutes; a run is cut at its
			// deadline (10m for a noop, 30m for an apply by default).
			Buckets: []float64{1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 1800},
		}, []string{"kind", "outcome"})),
		runs: metrics.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metrics.Namespace, Subsystem: "agent", Name: "runs_total",
			Help: "Runs answered, by kind and outcome (done, failed, expired, skipped, refused).",
		}, []string{"kind", "outcome"})),
		running: metrics.Register(reg, prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: metrics.Namespace, Subsystem: "agent", Name: "run_in_progress",
			Help: "1 while a run is in progress on the host.",
		})),
	}
}

// observePuppet records how long Puppet took for res, when it ran.
func (m *agentMetrics) observePuppet(res *protocol.RunResult) {
	if res.PuppetSeconds <= 0 {
		return // Puppet never started (a checkout that failed)
	}
	outcome := res.Outcome
	if outcome == protocol.OutcomeDone && res.Report != nil && res.Report.Failed {
		outcome = "resources_failed"
	}
	m.puppet.WithLabelValues(res.Kind, outcome).Observe(res.PuppetSeconds)
}
