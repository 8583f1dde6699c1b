package metrics_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/balcony-dev/balcony/pkg/metrics"
)

func TestServesRegisteredCounters(t *testing.T) {
	reg := metrics.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Namespace: metrics.Namespace, Name: "things_total", Help: "Things."})
	reg.MustRegister(c)
	c.Add(3)
	s, err := metrics.Start(context.Background(), "127.0.0.1:0", reg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	resp, err := http.Get("http://" + s.Addr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"balcony_things_total 3", "go_goroutines", "process_cpu_seconds_total"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get("http://" + s.Addr() + "/metrics"); err == nil {
		t.Error("the endpoint still answers after Close")
	}
}

func TestPortInUseIsAnErrorAtStart(t *testing.T) {
	s, err := metrics.Start(context.Background(), "127.0.0.1:0", metrics.NewRegistry(), zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := metrics.Start(context.Background(), s.Addr(), metrics.NewRegistry(), zerolog.Nop()); err == nil {
		t.Fatal("a second endpoint on the same port started")
	}
}
