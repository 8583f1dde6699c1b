// Package daemon holds what every balcony command shares: the bus flags,
// the root logger, and a context cancelled by SIGINT or SIGTERM.
package daemon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/pflag"
	"gopkg.in/yaml.v3"

	"github.com/balcony-dev/balcony/pkg/bus"
)

// BusFlags are the flags that say how to reach the bus.
type BusFlags struct {
	URL       string
	Creds     string
	DataDir   string
	Listen    string
	NoSync    bool
	Provision bool
}

// Register adds the bus flags to fs. defaultDataDir is where an embedded
// server keeps its data.
func (b *BusFlags) Register(fs *pflag.FlagSet, defaultDataDir string) {
	fs.StringVar(&b.URL, "nats-url", os.Getenv("BALCONY_NATS_URL"), "NATS server URL(s), comma-separated; empty starts an embedded server (env BALCONY_NATS_URL)")
	fs.StringVar(&b.Creds, "nats-creds", os.Getenv("BALCONY_NATS_CREDS"), "NATS credentials file (env BALCONY_NATS_CREDS)")
	fs.StringVar(&b.DataDir, "data-dir", defaultDataDir, "embedded server: JetStream data directory")
	fs.StringVar(&b.Listen, "listen", "127.0.0.1:4222", "embedded server: address for clients and the nats CLI")
	fs.BoolVar(&b.NoSync, "no-sync-always", false, "embedded server: let JetStream sync every 2 minutes instead of on every write (faster, loses acknowledged writes on power failure)")
	fs.BoolVar(&b.Provision, "provision", true, "create or update the streams and buckets of streams.yaml at start")
}

// Connect connects (or starts the embedded server) and provisions. A
// daemon waits for the bus to come up; a one-shot command fails at once.
func (b *BusFlags) Connect(ctx context.Context, name string, log zerolog.Logger, daemon bool) (*bus.Conn, error) {
	opts := bus.Options{
		URL: b.URL, Name: name, CredsFile: b.Creds, Log: log, WaitForServer: daemon,
		Embedded: bus.EmbeddedOptions{DataDir: b.DataDir, Listen: b.Listen},
	}
	if b.NoSync {
		opts.Embedded.SyncInterval = 2 * time.Minute
	}
	conn, err := bus.Connect(ctx, opts)
	if err != nil {
		return nil, err
	}
	if b.Provision {
		if err := bus.ProvisionDeclared(ctx, conn.JS); err != nil {
			conn.Close()
			return nil, err
		}
	}
	return conn, nil
}

// ConnectClient connects a one-shot command (show, status, approve) to a
// running bus: --nats-url, or the address a local embedded server listens
// on; it never starts a server nor provisions, and fails at once when
// nobody answers.
func (b BusFlags) ConnectClient(ctx context.Context, name string, log zerolog.Logger) (*bus.Conn, error) {
	if b.URL == "" {
		b.URL = "nats://" + b.Listen
	}
	b.Provision = false
	return b.Connect(ctx, name, log, false)
}

// LogFlags choose the log level and format.
type LogFlags struct {
	Level  string
	Format string
}

// Register adds the log flags to fs.
func (l *LogFlags) Register(fs *pflag.FlagSet) {
	fs.StringVar(&l.Level, "log-level", "info", "log level: trace, debug, info, warn, error")
	fs.StringVar(&l.Format, "log-format", "console", "log format: console (for people) or json (for collectors)")
}

// Logger builds the root logger writing to w.
func (l *LogFlags) Logger(w io.Writer, component string) (zerolog.Logger, error) {
	level, err := zerolog.ParseLevel(l.Level)
	if err == nil && l.Level == "" {
		err = fmt.Errorf("empty level")
	}
	if err != nil {
		return zerolog.Nop(), fmt.Errorf("--log-level: %w", err)
	}
	switch l.Format {
	case "json":
	case "console":
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly}
	default:
		return zerolog.Nop(), fmt.Errorf("--log-format %q: want console or json", l.Format)
	}
	return zerolog.New(w).Level(level).With().Timestamp().Str("service", component).Logger(), nil
}

// SignalContext is cancelled on SIGINT or SIGTERM, or with parent.
func SignalContext(parent context.Context) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
}

// LoadYAML decodes the YAML file at path into v, refusing fields v does
// not have (a misspelt key is an error, not a silent default). An empty
// path, or an empty file, leaves v as it is.
func LoadYAML(path string, v any) error {
	if path == "" {
		return nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
