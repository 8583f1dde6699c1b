// Package metrics serves a daemon's Prometheus metrics on --metrics-listen.
//
// Each service declares its own collectors in its package's metrics.go
// (alertmanager's habit), registered on the prometheus.Registerer its
// Options carry. A nil Registerer means nobody scrapes: the service then
// registers on a private registry of its own (Or), so tests can start
// several services in one process without colliding.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"
	"github.com/spf13/pflag"
)

// Namespace prefixes every balcony metric name.
const Namespace = "balcony"

// Flags choose where a daemon serves its metrics.
type Flags struct {
	// Listen is the address of the metrics endpoint; empty serves none.
	Listen string
}

// Register adds --metrics-listen to fs.
func (f *Flags) Register(fs *pflag.FlagSet) {
	fs.StringVar(&f.Listen, "metrics-listen", "", "serve Prometheus metrics on this address at /metrics (e.g. :9481; empty: none). deploy/prometheus/prometheus.yml scrapes each daemon's conventional port (README, Metrics)")
}

// Serve starts the endpoint on Listen serving g, or nothing (a nil
// *Server, whose Close does nothing) when Listen is empty.
func (f Flags) Serve(ctx context.Context, g prometheus.Gatherer, log zerolog.Logger) (*Server, error) {
	if f.Listen == "" {
		return nil, nil
	}
	return Start(ctx, f.Listen, g, log)
}

// NewRegistry returns a registry holding the Go runtime's and the
// process's collectors, for one daemon's own metrics to join.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Or returns reg, or a fresh private registry when reg is nil.
func Or(reg prometheus.Registerer) prometheus.Registerer {
	if reg == nil {
		return prometheus.NewRegistry()
	}
	return reg
}

// Server is a running metrics endpoint.
type Server struct {
	srv  *http.Server
	addr string
	done chan struct{}
	once sync.Once
	err  error
}

// Start serves g on http://addr/metrics (and 200 on /healthz) until Close
// or ctx's end. It returns once the address is bound, so an error such as
// a port in use comes back here, not later.
func Start(ctx context.Context, addr string, g prometheus.Gatherer, log zerolog.Logger) (*Server, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics endpoint: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{ErrorLog: promLogger{log}}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	s := &Server{
		srv:  &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second},
		addr: l.Addr().String(),
		done: make(chan struct{}),
	}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.err = err
		}
	}()
	context.AfterFunc(ctx, func() { s.Close() })
	log.Info().Str("listen", s.addr).Msg("metrics endpoint started")
	return s, nil
}

// Addr is the bound address (the port chosen when addr had port 0).
func (s *Server) Addr() string { return s.addr }

// Close stops the endpoint and waits for it; it may be called more than
// once, and on a nil *Server (Flags.Serve with no address).
func (s *Server) Close() error {
	if s == nil {
		return nil
	}
	s.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.srv.Shutdown(ctx); err != nil {
			s.srv.Close()
		}
		<-s.done
	})
	return s.err
}

// promLogger passes promhttp's errors to zerolog.
type promLogger struct{ log zerolog.Logger }

func (p promLogger) Println(v ...any) { p.log.Warn().Msg(fmt.Sprint(v...)) }
