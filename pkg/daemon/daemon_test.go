package daemon_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/pflag"

	"github.com/balcony-dev/balcony"
	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/bus/bustest"
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

func TestBusFlagsRegister(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want daemon.BusFlags
	}{
		{"defaults", nil, nil,
			daemon.BusFlags{DataDir: "/var/lib/balcony", Listen: "127.0.0.1:4222", Provision: true}},
		{"env", map[string]string{"BALCONY_NATS_URL": "nats://bus:4222", "BALCONY_NATS_CREDS": "/etc/balcony.creds"}, nil,
			daemon.BusFlags{URL: "nats://bus:4222", Creds: "/etc/balcony.creds", DataDir: "/var/lib/balcony", Listen: "127.0.0.1:4222", Provision: true}},
		{"flags win over env", map[string]string{"BALCONY_NATS_URL": "nats://bus:4222"}, []string{"--nats-url=nats://other:4222"},
			daemon.BusFlags{URL: "nats://other:4222", DataDir: "/var/lib/balcony", Listen: "127.0.0.1:4222", Provision: true}},
		{"all flags", nil, []string{"--data-dir=/d", "--listen=0.0.0.0:4333", "--no-sync-always", "--provision=false"},
			daemon.BusFlags{DataDir: "/d", Listen: "0.0.0.0:4333", NoSync: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("BALCONY_NATS_URL", "")
			t.Setenv("BALCONY_NATS_CREDS", "")
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			var b daemon.BusFlags
			fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
			b.Register(fs, "/var/lib/balcony")
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			if b != tt.want {
				t.Errorf("got %+v, want %+v", b, tt.want)
			}
		})
	}
}

func TestConnectClient(t *testing.T) {
	srv := bustest.Start(t)
	ctx := context.Background()
	t.Run("by URL", func(t *testing.T) {
		b := daemon.BusFlags{URL: srv.URL(), Provision: true}
		c, err := b.ConnectClient(ctx, "show", zerolog.Nop())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if c.Embedded() {
			t.Error("a client started a server")
		}
		if _, err := c.JS.Stream(ctx, "RUNS"); err != nil {
			t.Errorf("client does not see the streams: %v", err)
		}
		if !b.Provision {
			t.Error("ConnectClient changed the caller's flags")
		}
	})
	t.Run("by listen address", func(t *testing.T) {
		b := daemon.BusFlags{Listen: strings.TrimPrefix(srv.URL(), "nats://")}
		c, err := b.ConnectClient(ctx, "status", zerolog.Nop())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if c.URL() != srv.URL() {
			t.Errorf("connected to %s, want %s", c.URL(), srv.URL())
		}
	})
	t.Run("dead port fails at once", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		// The second never starts a server, even with a data dir.
		for _, b := range []daemon.BusFlags{{URL: "nats://" + addr}, {Listen: addr, DataDir: t.TempDir()}} {
			start := time.Now()
			c, err := b.ConnectClient(ctx, "status", zerolog.Nop())
			if err == nil {
				c.Close()
				t.Fatalf("%+v: connected to a dead port", b)
			}
			if !strings.Contains(err.Error(), addr) {
				t.Errorf("error %q does not name %s", err, addr)
			}
			if d := time.Since(start); d > 900*time.Millisecond {
				t.Errorf("failing took %s", d)
			}
		}
	})
}

func TestConnectEmbeddedProvisions(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name      string
		provision bool
		noSync    bool
	}{
		{"provision", true, false},
		{"provision without sync", true, true},
		{"no provision", false, false},
	}
	decl, err := bus.ParseDeclaration(balcony.StreamsYAML)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := daemon.BusFlags{DataDir: t.TempDir(), Listen: "127.0.0.1:0", Provision: tt.provision, NoSync: tt.noSync}
			c, err := b.Connect(ctx, "balcony", zerolog.Nop(), true)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(c.Close)
			if !c.Embedded() {
				t.Fatal("no embedded server without a URL")
			}
			info, err := bustest.Client(t, c).JS.AccountInfo(ctx)
			if err != nil {
				t.Fatal(err)
			}
			want := 0
			if tt.provision {
				want = len(decl.Streams) + len(decl.KV)
			}
			if info.Streams != want {
				t.Fatalf("%d streams, want %d", info.Streams, want)
			}
			if !tt.provision {
				return
			}
			for _, s := range decl.Streams {
				st, err := c.JS.Stream(ctx, s.Name)
				if err != nil {
					t.Fatalf("stream %s: %v", s.Name, err)
				}
				if got := st.CachedInfo().Config; got.MaxAge != s.MaxAge || got.Duplicates != s.DuplicateWindow {
					t.Errorf("stream %s: max age %s dup %s, want %s %s", s.Name, got.MaxAge, got.Duplicates, s.MaxAge, s.DuplicateWindow)
				}
			}
		})
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
