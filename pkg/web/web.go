// Package web is balcony's review in a browser: the commits with the
// stage each is at, a commit's review, a host's pending changes and the
// fleet, served as HTML (html/template, a few lines of JavaScript) and
// kept live from balcony.event.> with server-sent events.
//
// It reads only through the services' requests (the nooper's show,
// commits, hosts and host; the approver's and the applier's status), never
// their buckets, and follows balcony.event.> with a plain subscription: a
// page is rendered from the services' answers, and an event only tells
// the open pages to fetch themselves again. Approving from a page needs an
// authenticating proxy in front that names the user in a header
// (Options.UserHeader); without it the view is read-only (docs/web.md,
// docs/security.md).
package web

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/balcony-dev/balcony/pkg/bus"
)

// Options configure the web view.
type Options struct {
	// Listen is the address to serve on (host:port; port 0 picks one).
	Listen string
	// UserHeader names the request header in which an authenticating
	// proxy puts the user's login. Empty: nobody can approve from the
	// pages.
	UserHeader string
	// TrustedProxies are the networks the proxy's requests come from:
	// UserHeader is believed only on requests from them. Default:
	// loopback only.
	TrustedProxies []netip.Prefix
	// MaxStreams bounds the pages following events at once; default 1000.
	MaxStreams int
	Log        zerolog.Logger
	// Registerer is where the view's metrics go; nil keeps them private.
	Registerer prometheus.Registerer
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Server is the web view. Create it with New, start it with Run.
type Server struct {
	opts    Options
	conn    *bus.Conn
	log     zerolog.Logger
	pages   *pages
	hub     *hub
	metrics *webMetrics

	mu   sync.Mutex
	addr string
}

// New checks the options and parses the templates.
func New(conn *bus.Conn, o Options) (*Server, error) {
	if len(o.TrustedProxies) == 0 {
		o.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	}
	if o.MaxStreams == 0 {
		o.MaxStreams = 1000
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	p, err := parsePages()
	if err != nil {
		return nil, fmt.Errorf("web: templates: %w", err)
	}
	m := newMetrics(o.Registerer)
	return &Server{opts: o, conn: conn, log: o.Log, pages: p, hub: newHub(o.MaxStreams, m), metrics: m}, nil
}

// Addr is the address the view serves on, once Run has bound it.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Run serves on Options.Listen until ctx ends (Serve).
func (s *Server) Run(ctx context.Context) error {
	if s.opts.Listen == "" {
		return errors.New("web: an address to listen on is required")
	}
	l, err := net.Listen("tcp", s.opts.Listen)
	if err != nil {
		return fmt.Errorf("web: %w", err)
	}
	return s.Serve(ctx, l)
}

// Serve serves on l until ctx ends, then stops taking requests, ends the
// event streams and waits for the requests under way (at most 10 s). It
// closes l.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	s.mu.Lock()
	s.addr = l.Addr().String()
	s.mu.Unlock()

	sub, err := s.conn.NC.Subscribe(bus.EventPrefix+">", func(m *nats.Msg) { s.hub.publish(m.Subject, m.Data) })
	if err != nil {
		l.Close()
		return fmt.Errorf("web: follow %s>: %w", bus.EventPrefix, err)
	}
	defer sub.Unsubscribe() //nolint:errcheck // the connection closes after

	srv := &http.Server{
		Handler:           s.routes(),
		ReadHeaderTimeout: 10 * time.Second,
		// Event streams end with ctx: Shutdown does not end them.
		BaseContext: func(net.Listener) context.Context { return ctx },
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	s.log.Info().Str("listen", s.addr).Str("user_header", s.opts.UserHeader).Msg("serving the web view")
	select {
	case err := <-served:
		return fmt.Errorf("web: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	<-served
	return nil
}

// routes are the view's pages.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.commitsPage)
	mux.HandleFunc("GET /commit/{rev}", s.commitPage)
	mux.HandleFunc("POST /commit/{rev}/approve", s.approve)
	mux.HandleFunc("POST /commit/{rev}/revoke", s.revoke)
	mux.HandleFunc("GET /host/{host}", s.hostPage)
	mux.HandleFunc("GET /fleet", s.fleetPage)
	mux.HandleFunc("GET /events", s.events)
	mux.Handle("GET /static/", http.StripPrefix("/static/", staticFiles()))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	return s.metrics.instrument(securityHeaders(mux))
}

// securityHeaders keeps the pages from running anything but their own
// script and from being framed by another site.
func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "same-origin")
		h.ServeHTTP(w, r)
	})
}
