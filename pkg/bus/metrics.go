package bus

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/balcony-dev/balcony/pkg/metrics"
)

// connMetrics are a connection's collectors: what an operator needs to
// see a daemon losing the bus, and bad publishers.
type connMetrics struct {
	disconnects prometheus.Counter
	reconnects  prometheus.Counter
	// rejections are by the rejecting service (nooper, approver, applier,
	// agent…) and reason class (RejectClass): both bounded, never the
	// subject, host or free-text reason, which the rejection event carries.
	rejections *prometheus.CounterVec
}

func newConnMetrics(reg prometheus.Registerer) *connMetrics {
	reg = metrics.Or(reg)
	return &connMetrics{
		disconnects: metrics.Register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: metrics.Namespace, Subsystem: "bus", Name: "disconnects_total",
			Help: "Times the connection to the bus was lost.",
		})),
		reconnects: metrics.Register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: metrics.Namespace, Subsystem: "bus", Name: "reconnects_total",
			Help: "Times the connection to the bus was re-established.",
		})),
		rejections: metrics.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metrics.Namespace, Subsystem: "bus", Name: "rejections_total",
			Help: "Malformed messages rejected (and announced on balcony.event.rejected.<service>), by service and reason class (undecodable, schema, invalid).",
		}, []string{"service", "reason"})),
	}
}
