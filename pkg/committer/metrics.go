package committer

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/balcony-dev/balcony/pkg/metrics"
)

// Outcomes of a POST /trigger (balcony_committer_triggers_total).
const (
	outcomeAccepted     = "accepted"
	outcomeUnauthorized = "unauthorized"
	outcomeBadRequest   = "bad_request"
	outcomeUnknown      = "unknown_revision"
	outcomeNotOnBranch  = "not_on_branch"
	outcomeUnavailable  = "unavailable"
)

// triggerMetrics are the CI trigger's collectors.
type triggerMetrics struct {
	triggers *prometheus.CounterVec
	states   *prometheus.CounterVec
}

func newTriggerMetrics(reg prometheus.Registerer) (*triggerMetrics, error) {
	m := &triggerMetrics{
		triggers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metrics.Namespace, Subsystem: "committer", Name: "triggers_total",
			Help: "POST /trigger requests by outcome: accepted, unauthorized, bad_request, unknown_revision, not_on_branch, unavailable.",
		}, []string{"outcome"}),
		states: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metrics.Namespace, Subsystem: "committer", Name: "trigger_states_total",
			Help: "Accepted triggers reaching a state: dispatched (handed to the nooper), ready (nooped) or failed.",
		}, []string{"state"}),
	}
	for _, o := range []string{outcomeAccepted, outcomeUnauthorized, outcomeBadRequest, outcomeUnknown, outcomeNotOnBranch, outcomeUnavailable} {
		m.triggers.WithLabelValues(o)
	}
	for _, s := range []string{TriggerDispatched, TriggerReady, TriggerFailed} {
		m.states.WithLabelValues(s)
	}
	reg = metrics.Or(reg)
	for _, c := range []prometheus.Collector{m.triggers, m.states} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
