// Package daemon holds what every balcony command shares: the bus flags
// (bus.go), the root logger, and a context cancelled by SIGINT or SIGTERM.
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

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"
	"github.com/spf13/pflag"
	"gopkg.in/yaml.v3"
)

// LogFlags choose the log level and format. The console format is
// coloured on a terminal only.
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
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly, NoColor: !terminal(w)}
	default:
		return zerolog.Nop(), fmt.Errorf("--log-format %q: want console or json", l.Format)
	}
	return zerolog.New(w).Level(level).With().Timestamp().Str("service", component).Logger(), nil
}

// terminal tells whether w is a terminal: in a file or a pipe, colours
// would be escape codes for the reader to wade through.
func terminal(w io.Writer) bool {
	f, ok := w.(interface{ Fd() uintptr })
	return ok && isatty.IsTerminal(f.Fd())
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
