// Package bus connects balcony's services to NATS JetStream: to an external
// server or cluster by URL, or to an embedded nats-server started in the
// process. It also provisions streams.yaml, encodes payloads and builds and
// validates subjects.
package bus

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
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
	// CredsFile is an optional NATS credentials file.
	CredsFile string
	Embedded  EmbeddedOptions
	// ConnectTimeout bounds each connection attempt; 0 means 5s. Once
	// connected, the client reconnects forever.
	ConnectTimeout time.Duration
	// WaitForServer makes Connect retry, with backoff, until the server
	// answers or ctx ends: daemons may start before the bus. Without it
	// (the git hook) Connect fails at once.
	WaitForServer bool
	Log           zerolog.Logger
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
}

// Conn is a connection to the bus, and the embedded server when there is one.
type Conn struct {
	NC     *nats.Conn
	JS     jetstream.JetStream
	server *server.Server
	closed chan struct{}
	log    zerolog.Logger

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
	c := &Conn{log: opts.Log, closed: make(chan struct{})}
	url := opts.URL
	if url == "" {
		srv, err := startEmbedded(opts.Embedded, opts.Log)
		if err != nil {
			return nil, err
		}
		c.server = srv
		url = srv.ClientURL()
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
			if err != nil {
				log.Warn().Err(err).Msg("disconnected from the bus")
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info().Str("url", nc.ConnectedUrlRedacted()).Msg("reconnected to the bus")
			c.reconnected()
		}),
		nats.ClosedHandler(func(*nats.Conn) { close(c.closed) }),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			ev := log.Warn().Err(err)
			if sub != nil {
				ev = ev.Str("subject", sub.Subject)
			}
			ev.Msg("bus error")
		}),
	}
	if opts.CredsFile != "" {
		nopts = append(nopts, nats.UserCredentials(opts.CredsFile))
	}
	nc, err := nats.Connect(url, nopts...)
	for wait := time.Second; err != nil && opts.WaitForServer; wait = min(2*wait, 30*time.Second) {
		log.Warn().Err(err).Str("url", url).Float64("retry_in_seconds", wait.Seconds()).Msg("waiting for the bus")
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
		return nil, fmt.Errorf("connect to %s: %w", url, err)
	}
	c.NC = nc
	js, err := jetstream.New(nc)
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

func startEmbedded(o EmbeddedOptions, log zerolog.Logger) (*server.Server, error) {
	if o.DataDir == "" {
		return nil, errors.New("embedded server: a data directory is required")
	}
	listen := o.Listen
	if listen == "" {
		listen = "127.0.0.1:4222"
	}
	host, portText, err := net.SplitHostPort(listen)
	if err != nil {
		return nil, fmt.Errorf("embedded server: listen address %q: %w", listen, err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return nil, fmt.Errorf("embedded server: listen port %q: %w", portText, err)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	} else if l, err := net.Listen("tcp", listen); err != nil {
		// nats-server would only log this and never become ready.
		return nil, fmt.Errorf("embedded server: %w", err)
	} else {
		l.Close()
	}
	dir, err := filepath.Abs(o.DataDir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("embedded server: %w", err)
	}
	sopts := &server.Options{
		ServerName: "balcony",
		Host:       host,
		Port:       port,
		JetStream:  true,
		StoreDir:   dir,
		MaxPayload: DefaultMaxPayload,
		NoSigs:     true,
	}
	if o.SyncInterval == 0 {
		sopts.SyncAlways = true
		sopts.SyncInterval = 2 * time.Minute
	} else {
		sopts.SyncInterval = o.SyncInterval
	}
	srv, err := server.NewServer(sopts)
	if err != nil {
		return nil, fmt.Errorf("embedded server: %w", err)
	}
	srv.SetLoggerV2(serverLogger{log.With().Str("component", "nats-server").Logger()}, false, false, false)
	go srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		srv.Shutdown()
		return nil, fmt.Errorf("embedded server on %s: not ready after 30s", listen)
	}
	log.Info().Str("url", srv.ClientURL()).Str("data_dir", dir).Msg("embedded nats-server started")
	return srv, nil
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
