package chatbridge

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/balcony-dev/balcony/pkg/metrics"
)

// collectors are the bridge's metrics.
type collectors struct {
	announced  *prometheus.CounterVec
	skipped    prometheus.Counter
	lines      prometheus.Counter
	commands   *prometheus.CounterVec
	reconnects prometheus.Counter
	rejected   prometheus.Counter
}

func newCollectors(reg prometheus.Registerer) *collectors {
	reg = metrics.Or(reg)
	c := &collectors{
		announced: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metrics.Namespace, Subsystem: "chatbridge", Name: "events_announced_total",
			Help: "Events covered by a line sent to the channels, by event type.",
		}, []string{"type"}),
		skipped: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: metrics.Namespace, Subsystem: "chatbridge", Name: "events_already_posted_total",
			Help: "Events delivered again whose line had already been sent (a restart after a crash): not posted twice.",
		}),
		lines: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: metrics.Namespace, Subsystem: "chatbridge", Name: "lines_sent_total",
			Help: "Lines sent to IRC: announcements (once per channel) and answers.",
		}),
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metrics.Namespace, Subsystem: "chatbridge", Name: "commands_total",
			Help: "Commands received, by verb and outcome (ok, refused, failed, usage).",
		}, []string{"verb", "outcome"}),
		reconnects: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: metrics.Namespace, Subsystem: "chatbridge", Name: "irc_reconnects_total",
			Help: "Connections to the IRC server lost and tried again.",
		}),
		rejected: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: metrics.Namespace, Subsystem: "chatbridge", Name: "events_rejected_total",
			Help: "Malformed events dropped with a reason.",
		}),
	}
	reg.MustRegister(c.announced, c.skipped, c.lines, c.commands, c.reconnects, c.rejected)
	return c
}
