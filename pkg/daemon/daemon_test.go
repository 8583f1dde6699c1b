package daemon_test

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/balcony-dev/balcony/pkg/daemon"
)

func TestLogger(t *testing.T) {
	tests := []struct {
		name, level, format string
		wantErr             string
		check               func(t *testing.T, out string)
	}{
		{name: "json", level: "info", format: "json", check: func(t *testing.T, out string) {
			var line map[string]any
			if err := json.Unmarshal([]byte(out), &line); err != nil {
				t.Fatalf("not one JSON line: %v: %q", err, out)
			}
			if line["service"] != "nooper" || line["message"] != "shown" || line["level"] != "info" || line["host"] != "a.example.com" {
				t.Errorf("fields %v", line)
			}
			if _, ok := line["time"]; !ok {
				t.Error("no timestamp")
			}
		}},
		{name: "console", level: "debug", format: "console", check: func(t *testing.T, out string) {
			if strings.HasPrefix(out, "{") || !strings.Contains(out, "shown") || !strings.Contains(out, "service=") || !strings.Contains(out, "nooper") {
				t.Errorf("console line %q", out)
			}
			if !strings.Contains(out, "debug line") {
				t.Errorf("debug level dropped the debug line: %q", out)
			}
		}},
		{name: "level filters", level: "warn", format: "json", check: func(t *testing.T, out string) {
			if out != "" {
				t.Errorf("info logged at warn level: %q", out)
			}
		}},
		{name: "bad level", level: "loud", format: "json", wantErr: "--log-level"},
		{name: "bad format", level: "info", format: "xml", wantErr: `--log-format "xml"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			l := daemon.LogFlags{Level: tt.level, Format: tt.format}
			log, err := l.Logger(&buf, "nooper")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, want an error with %q", err, tt.wantErr)
				}
				// The logger returned with an error writes nothing.
				log.Error().Msg("x")
				if buf.Len() != 0 {
					t.Errorf("logger of a failed Logger wrote %q", buf.String())
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.level == "debug" {
				log.Debug().Msg("debug line")
			}
			log.Info().Str("host", "a.example.com").Msg("shown")
			tt.check(t, strings.TrimSpace(buf.String()))
		})
	}
}

func TestLogFlagsDefaults(t *testing.T) {
	var l daemon.LogFlags
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	l.Register(fs)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if l.Level != "info" || l.Format != "console" {
		t.Fatalf("defaults %+v", l)
	}
	if err := fs.Parse([]string{"--log-level=trace", "--log-format=json"}); err != nil {
		t.Fatal(err)
	}
	if l.Level != "trace" || l.Format != "json" {
		t.Fatalf("parsed %+v", l)
	}
}

func TestEmptyLogLevelIsAnError(t *testing.T) {
	l := daemon.LogFlags{Level: "", Format: "json"}
	if _, err := l.Logger(io.Discard, "x"); err == nil {
		t.Fatal("an empty --log-level was accepted")
	}
}

func TestLoadYAML(t *testing.T) {
	type conf struct {
		Name string `yaml:"name"`
	}
	dir := t.TempDir()
	write := func(name, text string) string {
		p := dir + "/" + name
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	var c conf
	if err := daemon.LoadYAML(write("ok.yaml", "name: kermit\n"), &c); err != nil || c.Name != "kermit" {
		t.Fatalf("got %+v, %v", c, err)
	}
	if err := daemon.LoadYAML(write("empty.yaml", ""), &c); err != nil || c.Name != "kermit" {
		t.Fatalf("an empty file changed %+v or failed: %v", c, err)
	}
	if err := daemon.LoadYAML("", &c); err != nil {
		t.Fatalf("no path: %v", err)
	}
	if err := daemon.LoadYAML(write("typo.yaml", "nmae: x\n"), &c); err == nil || !strings.Contains(err.Error(), "nmae") {
		t.Fatalf("a misspelt key: %v", err)
	}
	if err := daemon.LoadYAML(dir+"/missing.yaml", &c); err == nil {
		t.Fatal("a missing file was accepted")
	}
}
