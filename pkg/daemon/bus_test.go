package daemon_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/pflag"

	"github.com/balcony-dev/balcony"
	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/bus/bustest"
	"github.com/balcony-dev/balcony/pkg/daemon"
)

// parse registers a daemon's bus flags as cmd/ does and parses args.
func parse(t *testing.T, def daemon.Embedding, env map[string]string, args ...string) daemon.BusFlags {
	t.Helper()
	t.Setenv("BALCONY_NATS_URL", "")
	t.Setenv("BALCONY_NATS_CREDS", "")
	t.Setenv("BALCONY_REPLICAS", "")
	for _, k := range []string{"CA", "CERT", "KEY"} {
		t.Setenv("BALCONY_NATS_TLS_"+k, "")
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
	var b daemon.BusFlags
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	b.Client.Register(fs)
	b.Server.Register(fs, "/var/lib/balcony", def)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestBusFlagsRegister(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want daemon.BusFlags
	}{
		{"defaults", nil, nil, daemon.BusFlags{
			Server: daemon.ServerFlags{DataDir: "/var/lib/balcony", Listen: "127.0.0.1:4222"}}},
		{"env", map[string]string{"BALCONY_NATS_URL": "nats://bus:4222", "BALCONY_NATS_CREDS": "/etc/balcony.creds"}, nil, daemon.BusFlags{
			Client: daemon.ClientFlags{URL: "nats://bus:4222", Creds: "/etc/balcony.creds"},
			Server: daemon.ServerFlags{DataDir: "/var/lib/balcony", Listen: "127.0.0.1:4222"}}},
		{"flags win over env", map[string]string{"BALCONY_NATS_URL": "nats://bus:4222"}, []string{"--nats-url=nats://other:4222"}, daemon.BusFlags{
			Client: daemon.ClientFlags{URL: "nats://other:4222"},
			Server: daemon.ServerFlags{DataDir: "/var/lib/balcony", Listen: "127.0.0.1:4222"}}},
		{"all flags", nil, []string{"--embedded", "--data-dir=/d", "--listen=0.0.0.0:4333", "--no-sync-always", "--provision=false", "--server-config=/etc/nats.conf"}, daemon.BusFlags{
			Server: daemon.ServerFlags{Embedded: true, DataDir: "/d", Listen: "0.0.0.0:4333", NoSync: true, Config: "/etc/nats.conf"}}},
		{"replicas env", map[string]string{"BALCONY_REPLICAS": "3"}, nil, daemon.BusFlags{
			Server: daemon.ServerFlags{DataDir: "/var/lib/balcony", Listen: "127.0.0.1:4222", Replicas: 3}}},
		{"replicas flag wins over env", map[string]string{"BALCONY_REPLICAS": "3"}, []string{"--replicas=5"}, daemon.BusFlags{
			Server: daemon.ServerFlags{DataDir: "/var/lib/balcony", Listen: "127.0.0.1:4222", Replicas: 5}}},
		{"tls env", map[string]string{"BALCONY_NATS_TLS_CA": "/ca.pem", "BALCONY_NATS_TLS_CERT": "/c.pem", "BALCONY_NATS_TLS_KEY": "/k.pem"}, nil, daemon.BusFlags{
			Client: daemon.ClientFlags{TLSCA: "/ca.pem", TLSCert: "/c.pem", TLSKey: "/k.pem"},
			Server: daemon.ServerFlags{DataDir: "/var/lib/balcony", Listen: "127.0.0.1:4222"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parse(t, daemon.ConnectByDefault, tt.env, tt.args...); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// A client registers the client flags alone: nothing about a server.
func TestClientFlagsRegister(t *testing.T) {
	var c daemon.ClientFlags
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	c.Register(fs)
	var names []string
	fs.VisitAll(func(f *pflag.Flag) { names = append(names, f.Name) })
	if strings.Join(names, " ") != "nats-creds nats-tls-ca nats-tls-cert nats-tls-key nats-url" {
		t.Errorf("client flags %v", names)
	}
}

func TestTarget(t *testing.T) {
	env := map[string]string{"BALCONY_NATS_URL": "nats://env:4222"}
	tests := []struct {
		name      string
		def       daemon.Embedding
		env       map[string]string
		args      []string
		wantURL   string
		wantEmbed bool
		wantErr   bool
	}{
		{name: "agent: the default URL", def: daemon.ConnectByDefault, wantURL: daemon.DefaultURL},
		{name: "agent: the environment", def: daemon.ConnectByDefault, env: env, wantURL: "nats://env:4222"},
		{name: "agent: the flag", def: daemon.ConnectByDefault, env: env, args: []string{"--nats-url=nats://a:1,nats://b:1"}, wantURL: "nats://a:1,nats://b:1"},
		{name: "agent: --embedded", def: daemon.ConnectByDefault, args: []string{"--embedded"}, wantEmbed: true},
		{name: "agent: --embedded and a URL", def: daemon.ConnectByDefault, args: []string{"--embedded", "--nats-url=nats://a:1"}, wantErr: true},
		{name: "agent: --embedded and the environment", def: daemon.ConnectByDefault, env: env, args: []string{"--embedded"}, wantErr: true},
		{name: "nooper: embeds", def: daemon.EmbedByDefault, wantEmbed: true},
		{name: "nooper: --embedded", def: daemon.EmbedByDefault, args: []string{"--embedded"}, wantEmbed: true},
		{name: "nooper: the environment", def: daemon.EmbedByDefault, env: env, wantURL: "nats://env:4222"},
		{name: "nooper: the flag", def: daemon.EmbedByDefault, args: []string{"--nats-url=nats://a:1"}, wantURL: "nats://a:1"},
		{name: "nooper: --embedded and a URL", def: daemon.EmbedByDefault, args: []string{"--embedded", "--nats-url=nats://a:1"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url, embed, err := parse(t, tt.def, tt.env, tt.args...).Target()
			if (err != nil) != tt.wantErr || url != tt.wantURL || embed != tt.wantEmbed {
				t.Errorf("got %q, embed %v, %v; want %q, embed %v, error %v", url, embed, err, tt.wantURL, tt.wantEmbed, tt.wantErr)
			}
		})
	}
}

func TestClientAddress(t *testing.T) {
	if got := (daemon.ClientFlags{}).Address(); got != "nats://127.0.0.1:4222" {
		t.Errorf("no URL: %q", got)
	}
	if got := (daemon.ClientFlags{URL: "nats://bus:4222"}).Address(); got != "nats://bus:4222" {
		t.Errorf("a URL: %q", got)
	}
}

func TestClientConnect(t *testing.T) {
	srv := bustest.Start(t)
	ctx := context.Background()
	t.Run("by URL", func(t *testing.T) {
		c, err := daemon.ClientFlags{URL: srv.URL()}.Connect(ctx, "show", zerolog.Nop())
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
	})
	t.Run("dead port fails at once, naming the URL", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		url := "nats://" + l.Addr().String()
		l.Close()
		// A client that waited for the bus would run into this deadline.
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		c, err := daemon.ClientFlags{URL: url}.Connect(ctx, "status", zerolog.Nop())
		if err == nil {
			c.Close()
			t.Fatal("connected to a dead port")
		}
		if errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("the client waited for the bus: %v", err)
		}
		if !strings.Contains(err.Error(), url) {
			t.Errorf("error %q does not name %s", err, url)
		}
	})
}

// A daemon other than the nooper, given no URL, looks for the bus at the
// default URL and never starts one of its own.
func TestDaemonWithoutURLDoesNotEmbed(t *testing.T) {
	b := daemon.BusFlags{Server: daemon.ServerFlags{DataDir: t.TempDir(), Listen: "127.0.0.1:0", Default: daemon.ConnectByDefault}}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // stop waiting at once: only where it looks matters
	c, err := b.Connect(ctx, "agent", zerolog.Nop())
	if err == nil {
		defer c.Close()
		if c.Embedded() { // something else may serve the default URL here
			t.Fatal("a daemon without a URL started its own server")
		}
		return
	}
	if !strings.Contains(err.Error(), daemon.DefaultURL) {
		t.Errorf("error %q does not name %s", err, daemon.DefaultURL)
	}
}

// A daemon says which bus it connected to.
func TestDaemonConnectSaysWhere(t *testing.T) {
	srv := bustest.Start(t)
	var logs bytes.Buffer
	b := daemon.BusFlags{Client: daemon.ClientFlags{URL: srv.URL()}}
	c, err := b.Connect(context.Background(), "agent", zerolog.New(&logs))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Embedded() {
		t.Error("connected through a server of its own")
	}
	if !strings.Contains(logs.String(), `"url":"`+srv.URL()+`"`) || !strings.Contains(logs.String(), "connected to the bus") {
		t.Errorf("logs do not name the bus %s: %s", srv.URL(), logs.String())
	}
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
		// The bus's owner provisions it: nobody else would.
		{"embedded without --provision", false, false},
	}
	decl, err := bus.ParseDeclaration(balcony.StreamsYAML)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := daemon.BusFlags{Server: daemon.ServerFlags{Embedded: true, DataDir: t.TempDir(), Listen: "127.0.0.1:0", Provision: tt.provision, NoSync: tt.noSync}}
			c, err := b.Connect(ctx, "balcony", zerolog.Nop())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(c.Close)
			if !c.Embedded() {
				t.Fatal("no embedded server with --embedded")
			}
			info, err := bustest.Client(t, c).JS.AccountInfo(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if want := len(decl.Streams) + len(decl.KV) + len(decl.Objects); info.Streams != want {
				t.Fatalf("%d streams, want %d", info.Streams, want)
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

// cancelOnLog cancels a context at the first log line containing msg.
type cancelOnLog struct {
	msg    string
	cancel context.CancelFunc
	buf    bytes.Buffer
}

func (w *cancelOnLog) Write(p []byte) (int, error) {
	w.buf.Write(p)
	if strings.Contains(string(p), w.msg) {
		w.cancel()
	}
	return len(p), nil
}

// A daemon waiting for the bus logs where it looks, without the password.
func TestWaitingForTheBusHidesThePassword(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := &cancelOnLog{msg: "waiting for the bus", cancel: cancel}
	b := daemon.BusFlags{Client: daemon.ClientFlags{URL: "nats://kermit:s3cret@" + addr}}
	if c, err := b.Connect(ctx, "agent", zerolog.New(w)); err == nil {
		c.Close()
		t.Fatal("connected to a dead port")
	}
	logs := w.buf.String()
	if !strings.Contains(logs, "waiting for the bus") || strings.Contains(logs, "s3cret") || !strings.Contains(logs, "kermit:xxxxx@"+addr) {
		t.Errorf("logs: %s", logs)
	}
}

// --server-config configures the embedded server only.
func TestServerConfigWithURLIsRefused(t *testing.T) {
	b := daemon.BusFlags{Client: daemon.ClientFlags{URL: "nats://bus:4222"}, Server: daemon.ServerFlags{Config: "/etc/nats.conf"}}
	if c, err := b.Connect(context.Background(), "approver", zerolog.Nop()); err == nil || !strings.Contains(err.Error(), "--server-config") {
		if c != nil {
			c.Close()
		}
		t.Errorf("--server-config with a URL: %v", err)
	}
}

// Only the nooper provisions by default.
func TestOnlyTheNooperProvisionsByDefault(t *testing.T) {
	if b := parse(t, daemon.EmbedByDefault, nil); !b.Server.Provision {
		t.Error("the nooper does not provision by default")
	}
	if b := parse(t, daemon.ConnectByDefault, nil); b.Server.Provision {
		t.Error("a daemon other than the nooper provisions by default")
	}
}

// A daemon that does not provision waits, saying so, until the streams it
// needs exist.
func TestDaemonWaitsForItsStreams(t *testing.T) {
	srv, err := bus.Connect(context.Background(), bus.Options{Embedded: bus.EmbeddedOptions{DataDir: t.TempDir(), Listen: "127.0.0.1:0"}, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	waiting := make(chan struct{})
	var once sync.Once
	w := &cancelOnLog{msg: "waiting for the nooper to provision the bus", cancel: func() { once.Do(func() { close(waiting) }) }}
	b := daemon.BusFlags{Client: daemon.ClientFlags{URL: srv.URL()}, Needs: []string{"RUNS", "KV_hosts"}}
	done := make(chan error, 1)
	go func() {
		c, err := b.Connect(ctx, "agent", zerolog.New(w))
		if err == nil {
			c.Close()
		}
		done <- err
	}()
	<-waiting
	if err := bus.ProvisionDeclared(ctx, srv.JS); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("after provisioning: %v", err)
	}
}

// --replicas reaches provisioning, checked: a count out of range or an
// unreadable $BALCONY_REPLICAS stops the daemon before it touches the bus,
// a count the server cannot hold fails with what it needs, an even count
// is warned about.
func TestReplicasFlag(t *testing.T) {
	srv := bustest.Start(t)
	tests := []struct {
		name     string
		env      map[string]string
		args     []string
		wantErr  string // empty: connects
		wantWarn bool
	}{
		{name: "out of range", args: []string{"--replicas=7"}, wantErr: "--replicas: replicas 7: want 1 to 5"},
		{name: "negative", args: []string{"--replicas=-1"}, wantErr: "want 1 to 5"},
		{name: "unreadable environment", env: map[string]string{"BALCONY_REPLICAS": "three"}, wantErr: `$BALCONY_REPLICAS "three" is not a number`},
		{name: "the flag overrides an unreadable environment", env: map[string]string{"BALCONY_REPLICAS": "three"}, args: []string{"--replicas=1"}},
		{name: "one on one server", args: []string{"--replicas=1"}},
		{name: "streams.yaml's", args: nil},
		{name: "three on one server", env: map[string]string{"BALCONY_REPLICAS": "3"}, wantErr: "cluster of at least 3 servers"},
		{name: "even", args: []string{"--replicas=2"}, wantErr: "cluster of at least 2 servers", wantWarn: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := parse(t, daemon.ConnectByDefault, tt.env, append([]string{"--nats-url=" + srv.URL(), "--provision"}, tt.args...)...)
			var logs bytes.Buffer
			c, err := b.Connect(context.Background(), "nooper", zerolog.New(&logs))
			if err == nil {
				c.Close()
			}
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("got %v, want an error containing %q", err, tt.wantErr)
			}
			if warned := strings.Contains(logs.String(), "even replica count"); warned != tt.wantWarn {
				t.Errorf("warned about an even count: %v, want %v (logs: %s)", warned, tt.wantWarn, logs.String())
			}
		})
	}
}
