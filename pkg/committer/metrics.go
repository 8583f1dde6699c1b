package committer

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/balcony-dev/balcony/pkg/metrics"
)

// committerMetrics are the committer's collectors. source (hook, webhook,
// watch) is the only label: bounded, one value per process.
type committerMetrics struct {
	events, commits, failures *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *committerMetrics {
	reg = metrics.Or(reg)
	counter := func(name, help string) *prometheus.CounterVec {
		return metrics.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metrics.Namespace, Subsystem: "committer", Name: name, Help: help,
		}, []string{"source"}))
	}
	return &committerMetrics{
		events:   counter("events_total", "Commit events published (a branch that moved), by source (hook, webhook, watch)."),
		commits:  counter("commits_total", "Commits carried by the commit events published, by source."),
		failures: counter("publish_failures_total", "Commit events that could not be published (retried by the next push, tick or delivery), by source."),
	}
}
