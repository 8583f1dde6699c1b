package metrics_test

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/balcony-dev/balcony/pkg/metrics"
)

// A collector registered twice (two services of one process) is the same
// collector; a name reused with other labels is a programming error.
func TestRegisterReusesTheCollectorRegisteredBefore(t *testing.T) {
	reg := prometheus.NewRegistry()
	opts := prometheus.CounterOpts{Namespace: metrics.Namespace, Name: "things_total", Help: "Things."}
	first := metrics.Register(reg, prometheus.NewCounterVec(opts, []string{"kind"}))
	second := metrics.Register(reg, prometheus.NewCounterVec(opts, []string{"kind"}))
	first.WithLabelValues("a").Inc()
	second.WithLabelValues("a").Inc()
	if first != second {
		t.Error("the second registration returned a new collector")
	}
	defer func() {
		if recover() == nil {
			t.Error("a name registered again with other labels did not panic")
		}
	}()
	metrics.Register(reg, prometheus.NewCounterVec(opts, []string{"other"}))
}

func TestServeWithoutAnAddressServesNothing(t *testing.T) {
	s, err := metrics.Flags{}.Serve(context.Background(), metrics.NewRegistry(), zerolog.Nop())
	if err != nil || s != nil {
		t.Fatalf("Serve without --metrics-listen = %v, %v; want nothing", s, err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close of no endpoint: %v", err)
	}
}
