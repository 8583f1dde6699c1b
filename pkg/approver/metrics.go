package approver

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/balcony-dev/balcony/pkg/metrics"
)

// approverMetrics are the approver's collectors. Labels are bounded:
// source is cli, github, chat or web; type one of the approver's event types.
type approverMetrics struct {
	approvals *prometheus.CounterVec
	revokes   prometheus.Counter
	events    *prometheus.CounterVec
	pending   *pending
}

func newMetrics(reg prometheus.Registerer) *approverMetrics {
	reg = metrics.Or(reg)
	p := metrics.Register(reg, newPending())
	return &approverMetrics{
		approvals: metrics.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metrics.Namespace, Subsystem: "approver", Name: "approvals_total",
			Help: "Approvals recorded through the approver's service, by source (cli, chat, github, web).",
		}, []string{"source"})),
		revokes: metrics.Register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: metrics.Namespace, Subsystem: "approver", Name: "revocations_total",
			Help: "Approvals revoked through the approver's service.",
		})),
		events: metrics.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metrics.Namespace, Subsystem: "approver", Name: "events_total",
			Help: "Events announced, by type (approval.needed, approval.granted, approval.lapsed, approval.complete).",
		}, []string{"type"})),
		pending: p,
	}
}

// pending is, per commit evaluated since the approver started, how many
// of its change groups wait for approval: a commit whose noop is ready
// and that is not approved. A scrape counts them.
type pending struct {
	commits, groups *prometheus.Desc

	mu  sync.Mutex
	by  map[string]int
	sum int
}

func newPending() *pending {
	return &pending{
		by: map[string]int{},
		commits: prometheus.NewDesc(metrics.Namespace+"_approver_commits_pending",
			"Commits whose noop is ready and that are not approved (as last evaluated since the approver started).", nil, nil),
		groups: prometheus.NewDesc(metrics.Namespace+"_approver_groups_pending",
			"Change groups of those commits that wait for an owner's approval.", nil, nil),
	}
}

// note records st, just saved: its commit's groups pending, or none.
func (p *pending) note(st *state) {
	n, waiting := 0, st.ready && !st.rec.Status.Approved
	if waiting {
		for _, g := range st.rec.Status.Groups {
			if !g.Approved {
				n++
			}
		}
	}
	sha := st.rec.Commit.SHA
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sum -= p.by[sha]
	delete(p.by, sha)
	if waiting {
		p.by[sha] = n
		p.sum += n
	}
}

// Describe implements prometheus.Collector.
func (p *pending) Describe(ch chan<- *prometheus.Desc) {
	ch <- p.commits
	ch <- p.groups
}

// Collect implements prometheus.Collector.
func (p *pending) Collect(ch chan<- prometheus.Metric) {
	p.mu.Lock()
	commits, groups := len(p.by), p.sum
	p.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(p.commits, prometheus.GaugeValue, float64(commits))
	ch <- prometheus.MustNewConstMetric(p.groups, prometheus.GaugeValue, float64(groups))
}
