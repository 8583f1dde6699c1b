package daemon_test

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/balcony-dev/balcony/pkg/daemon"
)

// sink is somewhere logs go, and how to read back what was written there.
type sink struct {
	name   string
	w      io.Writer
	read   func() string
	colour bool
}

// Console logs are coloured on a terminal only: in a file or a pipe the
// escape codes would be noise.
func TestConsoleColourOnlyOnATerminal(t *testing.T) {
	t.Setenv("NO_COLOR", "") // zerolog's own switch
	var buf bytes.Buffer
	file, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	sinks := []sink{
		{"buffer", &buf, buf.String, false},
		{"file", file, func() string { data, _ := os.ReadFile(file.Name()); return string(data) }, false},
	}
	if term, read, ok := openTerminal(t); ok {
		sinks = append(sinks, sink{"terminal", term, read, true})
	}
	for _, s := range sinks {
		t.Run(s.name, func(t *testing.T) {
			l := daemon.LogFlags{Level: "info", Format: "console"}
			log, err := l.Logger(s.w, "nooper")
			if err != nil {
				t.Fatal(err)
			}
			log.Warn().Str("host", "a.example.com").Msg("shown")
			out := s.read()
			if !strings.Contains(out, "shown") {
				t.Fatalf("no log line: %q", out)
			}
			if got := strings.Contains(out, "\x1b["); got != s.colour {
				t.Errorf("colour %v, want %v: %q", got, s.colour, out)
			}
		})
	}
}
