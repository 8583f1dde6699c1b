package bus

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/rs/zerolog"
)

// EmbeddedServerOptions is the nats-server configuration the embedded
// server runs with: ConfigFile read by nats-server's own parser (so auth,
// accounts, TLS and cluster blocks mean what they mean to nats-server),
// then balcony's defaults wherever the file is silent: JetStream on, its
// store in DataDir, every write synced (unless SyncInterval), 8 MiB
// messages, listening on Listen. Tests use it to start the server a
// daemon would.
func EmbeddedServerOptions(o EmbeddedOptions) (*server.Options, error) {
	sopts := &server.Options{}
	if o.ConfigFile != "" {
		var err error
		if sopts, err = server.ProcessConfigFile(o.ConfigFile); err != nil {
			return nil, fmt.Errorf("embedded server: %w", err)
		}
	}
	if sopts.ServerName == "" {
		sopts.ServerName = "balcony"
	}
	// Signals are the daemon's, which shuts the server down itself.
	sopts.NoSigs = true
	// balcony's state lives in JetStream: a file that turns it off
	// cannot run balcony.
	sopts.JetStream = true
	if sopts.StoreDir == "" {
		if o.DataDir == "" {
			return nil, errors.New("embedded server: a data directory is required")
		}
		dir, err := filepath.Abs(o.DataDir)
		if err != nil {
			return nil, err
		}
		sopts.StoreDir = dir
	}
	if err := os.MkdirAll(sopts.StoreDir, 0o750); err != nil {
		return nil, fmt.Errorf("embedded server: %w", err)
	}
	if sopts.MaxPayload == 0 {
		sopts.MaxPayload = DefaultMaxPayload
	}
	if !sopts.SyncAlways && sopts.SyncInterval == 0 {
		if o.SyncInterval == 0 {
			sopts.SyncAlways = true
			sopts.SyncInterval = 2 * time.Minute
		} else {
			sopts.SyncInterval = o.SyncInterval
		}
	}
	if sopts.Host == "" && sopts.Port == 0 {
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
		}
		sopts.Host, sopts.Port = host, port
	}
	return sopts, nil
}

// AuthRequired tells whether clients of a server with these options must
// authenticate.
func AuthRequired(o *server.Options) bool {
	return o.Username != "" || o.Authorization != "" || len(o.Users) > 0 || len(o.Nkeys) > 0 ||
		len(o.TrustedOperators) > 0 || len(o.TrustedKeys) > 0 || o.AuthCallout != nil || len(o.Accounts) > 0 && o.NoAuthUser == ""
}

// startEmbedded starts the server and tells whether its clients must
// authenticate.
func startEmbedded(o EmbeddedOptions, log zerolog.Logger) (*server.Server, bool, error) {
	sopts, err := EmbeddedServerOptions(o)
	if err != nil {
		return nil, false, err
	}
	if sopts.Port != server.RANDOM_PORT {
		listen := net.JoinHostPort(sopts.Host, strconv.Itoa(sopts.Port))
		if sopts.Port == 0 {
			listen = net.JoinHostPort(sopts.Host, strconv.Itoa(server.DEFAULT_PORT))
		}
		// nats-server would only log this and never become ready.
		l, err := net.Listen("tcp", listen)
		if err != nil {
			return nil, false, fmt.Errorf("embedded server: %w", err)
		}
		l.Close()
	}
	srv, err := server.NewServer(sopts)
	if err != nil {
		return nil, false, fmt.Errorf("embedded server: %w", err)
	}
	srv.SetLoggerV2(serverLogger{log.With().Str("component", "nats-server").Logger()}, false, false, false)
	go srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		srv.Shutdown()
		return nil, false, fmt.Errorf("embedded server on %s: not ready after 30s", srv.ClientURL())
	}
	auth := AuthRequired(sopts)
	ev := log.Info().Str("url", srv.ClientURL()).Str("data_dir", sopts.StoreDir).Bool("auth", auth).Bool("tls", sopts.TLSConfig != nil)
	if o.ConfigFile != "" {
		ev = ev.Str("config", o.ConfigFile)
	}
	ev.Msg("embedded nats-server started")
	return srv, auth, nil
}
