package runs

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/balcony-dev/balcony/pkg/metrics"
)

// Metrics count the runs an Asker's service asks and what comes of them,
// by kind (noop, apply). Every method is safe on a nil *Metrics (an
// Asker built without them counts nothing).
type Metrics struct {
	asked    *prometheus.CounterVec
	answered *prometheus.CounterVec
	expired  *prometheus.CounterVec
}

// NewMetrics registers the run counters on reg (nil: a private registry).
// Labels are bounded: kind is noop or apply, outcome one of protocol's
// outcomes.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	reg = metrics.Or(reg)
	return &Metrics{
		asked: metrics.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metrics.Namespace, Subsystem: "runs", Name: "asked_total",
			Help: "Runs asked of hosts (each attempt), by kind.",
		}, []string{"kind"})),
		answered: metrics.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metrics.Namespace, Subsystem: "runs", Name: "answered_total",
			Help: "Answers taken as the result of a run asked, by kind and the host's outcome (done, failed, expired, skipped, refused).",
		}, []string{"kind", "outcome"})),
		expired: metrics.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metrics.Namespace, Subsystem: "runs", Name: "expired_total",
			Help: "Attempts whose deadline passed with no answer (the host is asked again, or given up on), by kind.",
		}, []string{"kind"})),
	}
}

// Asked counts n runs of kind published.
func (m *Metrics) Asked(kind string, n int) {
	if m != nil && n > 0 {
		m.asked.WithLabelValues(kind).Add(float64(n))
	}
}

// Answered counts an answer of kind with outcome taken for a run asked.
func (m *Metrics) Answered(kind, outcome string) {
	if m != nil {
		m.answered.WithLabelValues(kind, outcome).Inc()
	}
}

// Expired counts an attempt of kind that passed its deadline unanswered.
func (m *Metrics) Expired(kind string) {
	if m != nil {
		m.expired.WithLabelValues(kind).Inc()
	}
}
