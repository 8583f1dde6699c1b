// Package bus connects balcony's services to NATS JetStream: to an external
// server or cluster by URL, or to an embedded nats-server started in the
// process. It also provisions streams.yaml, encodes payloads and builds and
// validates subjects.
package bus

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// DefaultMaxPayload is the embedded server's largest message. Reports with
// whole-file diffs exceed NATS's 1 MiB default; an external server needs
// max_payload set to at least this (docs/operations.md).
const DefaultMaxPayload = 8 << 20

// Options says how to reach the bus. With URL empty, Connect starts an
// embedded server from Embedded.
type Options struct {
	// URL is a NATS URL or a comma-separated list of them (a cluster).
	URL string
	// Name names the connection in the server's monitoring.
	Name string
	// CredsFile is an optional NATS .creds file (user JWT and seed) or a
	// file holding a bare nkey seed; either way the connection's inboxes
	// are _INBOX.<its user public key>, so that permissions can limit it
	// to its own replies.
	CredsFile string
	// TLSCA is a PEM file of the CAs that sign the server's certificate;
	// TLSCert and TLSKey are the client's certificate, when the server
	// asks for one. The daemon's own embedded server needs none.
	TLSCA, TLSCert, TLSKey string
	Embedded               EmbeddedOptions
	// ConnectTimeout bounds each connection attempt; 0 means 5s. Once
	// connected, the client reconnects forever.
	ConnectTimeout time.Duration
	// WaitForServer makes Connect retry, with backoff, until the server
	// answers or ctx ends: daemons may start before the bus. Without it
	// (the git hook) Connect fails at once.
	WaitForServer bool
	Log           zerolog.Logger
	// OnAsyncError, when set, is told every asynchronous error the server
	// sends, such as a permissions violation (tests fail on them).
	OnAsyncError func(error)
	// Registerer is where the connection's metrics (metrics.go:
	// disconnects, reconnects, rejections) are registered; nil keeps
	// them private.
	Registerer prometheus.Registerer
}

// EmbeddedOptions configures the embedded nats-server.
type EmbeddedOptions struct {
	// DataDir holds JetStream's files; required.
	DataDir string
	// Listen is host:port for clients; port 0 picks a free port. Empty
	// means 127.0.0.1:4222.
	Listen string
	// SyncInterval is how often JetStream syncs to disk; 0 means every
	// write (sync_interval: always), which is what balcony's state needs.
	SyncInterval time.Duration
	// ConfigFile is a nats-server configuration file (auth, TLS,
	// accounts, cluster); the fields above apply where it is silent.
	ConfigFile string
}

// Conn is a connection to the bus, and the embedded server when there is one.
type Conn struct {
	NC      *nats.Conn
	JS      jetstream.JetStream
	server  *server.Server
	closed  chan struct{}
	log     zerolog.Logger
	metrics *connMetrics

	mu          sync.Mutex
	onReconnect []func()
}

// OnReconnect registers f to be called, on the client's goroutine, after
// every reconnection; f must not block.
func (c *Conn) OnReconnect(f func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.onReconnect = append(c.onReconnect, f)
}

func (c *Conn) reconnected() {
	c.mu.Lock()
	fs := append([]func(){}, c.onReconnect...)
	c.mu.Unlock()
	for _, f := range fs {
		f()
	}
}

// Connect connects to the bus described by opts. The caller must Close the
// Conn. It does not provision streams: see Provision.
func Connect(ctx context.Context, opts Options) (*Conn, error) {
	c := &Conn{log: opts.Log, closed: make(chan struct{}), metrics: newConnMetrics(opts.Registerer)}
	auth, err := authOptions(opts)
	if err != nil {
		return nil, err
	}
	url := opts.URL
	if url == "" {
		srv, needsAuth, err := startEmbedded(opts.Embedded, opts.Log)
		if err != nil {
			return nil, err
		}
		c.server = srv
		if needsAuth && opts.CredsFile == "" {
			c.shutdownServer()
			return nil, errors.New("the embedded server's configuration requires authentication: give this daemon its own credentials with --nats-creds")
		}
		// The daemon reaches its own server in-process: no TLS (hence
		// nats://, whatever the listener says), no network, but the same
		// authentication as anyone else (its --nats-creds) when the
		// server's configuration requires it.
		url = "nats://" + srv.Addr().String()
		auth = append(auth, nats.InProcessServer(srv))
	} else {
		tls, err := tlsOptions(opts)
		if err != nil {
			return nil, err
		}
		auth = append(auth, tls...)
	}
	timeout := opts.ConnectTimeout
	if timeout == 0 {
		timeout = 5 * time.Second
	}
	log := opts.Log
	nopts := []nats.Option{
		nats.Name(opts.Name),
		nats.Timeout(timeout),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil { // nil: a Close or Drain of ours
				c.metrics.disconnects.Inc()
				log.Warn().Err(err).Msg("disconnected from the bus")
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			c.metrics.reconnects.Inc()
			log.Info().Str("url", nc.ConnectedUrlRedacted()).Msg("reconnected to the bus")
			c.reconnected()
		}),
		nats.ClosedHandler(func(*nats.Conn) { close(c.closed) }),
		nats.ErrorHandler(func(nc *nats.Conn, sub *nats.Subscription, err error) {
			denied(nc, err)
			ev := log.Warn().Err(err)
			if sub != nil {
				ev = ev.Str("subject", sub.Subject)
			}
			ev.Msg("bus error")
			if opts.OnAsyncError != nil {
				opts.OnAsyncError(err)
			}
		}),
	}
	nopts = append(nopts, auth...)
	nc, err := nats.Connect(url, nopts...)
	for wait := time.Second; err != nil && opts.WaitForServer && c.server == nil; wait = min(2*wait, 30*time.Second) {
		log.Warn().Err(err).Str("url", RedactURL(url)).Float64("retry_in_seconds", wait.Seconds()).Msg("waiting for the bus")
		select {
		case <-ctx.Done():
			err = fmt.Errorf("%w (last: %v)", ctx.Err(), err)
			opts.WaitForServer = false
			continue
		case <-time.After(wait):
		}
		nc, err = nats.Connect(url, nopts...)
	}
	if err != nil {
		c.shutdownServer()
		return nil, fmt.Errorf("connect to %s: %w", RedactURL(url), err)
	}
	c.NC = nc
	// An asynchronous publish (PublishAll) whose ack never comes, as when
	// a cluster node dies with it, fails after this instead of waiting
	// forever.
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncTimeout(AckTimeout))
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	c.JS = js
	return c, nil
}

// URL is the client URL of the server this Conn uses: the embedded
// server's when there is one.
func (c *Conn) URL() string {
	if c.server != nil {
		return c.server.ClientURL()
	}
	return c.NC.ConnectedUrlRedacted()
}

// Embedded tells whether this Conn runs its own server.
func (c *Conn) Embedded() bool { return c.server != nil }

// Close drains the connection, then shuts the embedded server down.
func (c *Conn) Close() {
	if c.NC != nil {
		if err := c.NC.Drain(); err != nil {
			c.NC.Close()
		}
		select {
		case <-c.closed:
		case <-time.After(5 * time.Second):
			c.NC.Close()
		}
	}
	c.shutdownServer()
}

func (c *Conn) shutdownServer() {
	if c.server != nil {
		c.server.Shutdown()
		c.server.WaitForShutdown()
		c.server = nil
	}
}

// serverLogger routes nats-server's logs to zerolog; its notices are debug
// level because they are chatty at start-up.
type serverLogger struct{ log zerolog.Logger }

func (l serverLogger) Noticef(format string, v ...any) { l.log.Debug().Msgf(format, v...) }
func (l serverLogger) Warnf(format string, v ...any)   { l.log.Warn().Msgf(format, v...) }
func (l serverLogger) Fatalf(format string, v ...any)  { l.log.Error().Msgf(format, v...) }
func (l serverLogger) Errorf(format string, v ...any)  { l.log.Error().Msgf(format, v...) }
func (l serverLogger) Debugf(format string, v ...any)  { l.log.Trace().Msgf(format, v...) }
func (l serverLogger) Tracef(format string, v ...any)  { l.log.Trace().Msgf(format, v...) }
