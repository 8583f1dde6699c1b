package committer

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/balcony-dev/balcony/pkg/metrics"
)

// committerMetrics are the committer's collectors. source (hook, webhook,
// watch) is the only label: bounded, one value per process.
type committerMetrics struct {
	events, commits, failures *prometheus.CounterVec
	codeFailures, codeBytes   *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *committerMetrics {
	reg = metrics.Or(reg)
	counter := func(name, help string) *prometheus.CounterVec {
		return metrics.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metrics.Namespace, Subsystem: "committer", Name: name, Help: help,
		}, []string{"source"}))
	}
	return &committerMetrics{
		events:       counter("events_total", "Commit events published (a branch that moved), by source (hook, webhook, watch)."),
		commits:      counter("commits_total", "Commits carried by the commit events published, by source."),
		failures:     counter("publish_failures_total", "Commit events that could not be published (retried by the next push, tick or delivery), by source."),
		codeFailures: counter("code_failures_total", "Revisions whose code could not be put in the code object store (their events went out all the same), by source."),
		codeBytes:    counter("code_bytes_total", "Bytes of packs put in the code object store, by source."),
	}
}

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

func newTriggerMetrics(reg prometheus.Registerer) *triggerMetrics {
	reg = metrics.Or(reg)
	m := &triggerMetrics{
		triggers: metrics.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metrics.Namespace, Subsystem: "committer", Name: "triggers_total",
			Help: "POST /trigger requests by outcome: accepted, unauthorized, bad_request, unknown_revision, not_on_branch, unavailable.",
		}, []string{"outcome"})),
		states: metrics.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metrics.Namespace, Subsystem: "committer", Name: "trigger_states_total",
			Help: "Accepted triggers reaching a state: dispatched (handed to the nooper), ready (nooped) or failed.",
		}, []string{"state"})),
	}
	for _, o := range []string{outcomeAccepted, outcomeUnauthorized, outcomeBadRequest, outcomeUnknown, outcomeNotOnBranch, outcomeUnavailable} {
		m.triggers.WithLabelValues(o)
	}
	for _, s := range []string{TriggerDispatched, TriggerReady, TriggerFailed} {
		m.states.WithLabelValues(s)
	}
	return m
}
