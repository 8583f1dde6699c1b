package web

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/balcony-dev/balcony/pkg/metrics"
)

// webMetrics are the view's metrics.
type webMetrics struct {
	requests  *prometheus.CounterVec
	seconds   *prometheus.HistogramVec
	streams   prometheus.Gauge
	events    prometheus.Counter
	dropped   prometheus.Counter
	approvals *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *webMetrics {
	reg = metrics.Or(reg)
	m := &webMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metrics.Namespace, Subsystem: "web", Name: "requests_total",
			Help: "Requests served, by page (commits, commit, host, fleet, events, static, approve, revoke) and status code.",
		}, []string{"page", "code"}),
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: metrics.Namespace, Subsystem: "web", Name: "render_seconds",
			Help:    "Time to answer a page, the services' answers included (event streams left out).",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"page"}),
		streams: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: metrics.Namespace, Subsystem: "web", Name: "event_streams",
			Help: "Pages following balcony.event.> now.",
		}),
		events: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: metrics.Namespace, Subsystem: "web", Name: "events_total",
			Help: "Events received from balcony.event.>.",
		}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: metrics.Namespace, Subsystem: "web", Name: "events_dropped_total",
			Help: "Events a page lagging behind did not get (it refreshes on the next).",
		}),
		approvals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metrics.Namespace, Subsystem: "web", Name: "approvals_total",
			Help: "Approve and revoke requests from the pages, by verb and outcome (ok, refused, failed).",
		}, []string{"verb", "outcome"}),
	}
	reg.MustRegister(m.requests, m.seconds, m.streams, m.events, m.dropped, m.approvals)
	return m
}

// instrument counts every request by page and status code.
func (m *webMetrics) instrument(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		h.ServeHTTP(rec, r)
		page := pageOf(r)
		m.requests.WithLabelValues(page, strconv.Itoa(rec.code)).Inc()
		if page != "events" {
			m.seconds.WithLabelValues(page).Observe(time.Since(start).Seconds())
		}
	})
}

// pageOf is the page label of r: a bounded set, whatever the path.
func pageOf(r *http.Request) string {
	p := r.URL.Path
	switch {
	case p == "/":
		return "commits"
	case strings.HasPrefix(p, "/commit/") && strings.HasSuffix(p, "/approve"):
		return "approve"
	case strings.HasPrefix(p, "/commit/") && strings.HasSuffix(p, "/revoke"):
		return "revoke"
	case strings.HasPrefix(p, "/commit/"):
		return "commit"
	case strings.HasPrefix(p, "/host/"):
		return "host"
	case p == "/fleet":
		return "fleet"
	case p == "/events":
		return "events"
	case strings.HasPrefix(p, "/static/"):
		return "static"
	}
	return "other"
}

// statusRecorder remembers the status code written; it passes Flush on,
// which the event streams need.
type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.code = code
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
