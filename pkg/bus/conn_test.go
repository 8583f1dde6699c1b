package bus_test

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/balcony-dev/balcony"
	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/bus/bustest"
	"github.com/balcony-dev/balcony/pkg/metrics/metricstest"
	"github.com/balcony-dev/balcony/pkg/protocol"
)

// freeAddr returns a 127.0.0.1 address nobody listens on (it was free a
// moment ago).
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// embedded starts a server-owning Conn on dir and listen, provisioned.
// The caller closes it.
func embedded(t *testing.T, dir, listen string) *bus.Conn {
	t.Helper()
	c, err := bus.Connect(context.Background(), bus.Options{
		Name:     t.Name(),
		Embedded: bus.EmbeddedOptions{DataDir: dir, Listen: listen},
		Log:      zerolog.Nop(),
	})
	if err != nil {
		t.Fatalf("embedded server on %s: %v", listen, err)
	}
	if err := bus.ProvisionDeclared(context.Background(), c.JS); err != nil {
		c.Close()
		t.Fatalf("provision: %v", err)
	}
	return c
}

// logSignal is a zerolog writer that closes a channel at the first line
// containing a message.
type logSignal struct {
	msg  string
	once sync.Once
	seen chan struct{}
}

func newLogSignal(msg string) *logSignal { return &logSignal{msg: msg, seen: make(chan struct{})} }

func (w *logSignal) Write(p []byte) (int, error) {
	if strings.Contains(string(p), w.msg) {
		w.once.Do(func() { close(w.seen) })
	}
	return len(p), nil
}

func TestConnectEmbedded(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "not", "yet", "there")
	c := embedded(t, dir, "127.0.0.1:0")
	t.Cleanup(c.Close)
	ctx := context.Background()

	if !c.Embedded() {
		t.Error("Embedded() is false for a server-owning Conn")
	}
	if !strings.HasPrefix(c.URL(), "nats://127.0.0.1:") || strings.HasSuffix(c.URL(), ":0") {
		t.Errorf("URL() = %q, want nats://127.0.0.1:<port>", c.URL())
	}
	if got := c.NC.MaxPayload(); got != bus.DefaultMaxPayload {
		t.Errorf("max payload %d, want %d", got, bus.DefaultMaxPayload)
	}
	if _, err := c.Publish(ctx, "balcony.run.noop.a.example.com", "m1",
		protocol.RunRequest{Schema: protocol.SchemaVersion, ID: "m1"}); err != nil {
		t.Fatal(err)
	}

	// The store is in the data directory.
	var files []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if !containsPath(files, string(filepath.Separator)+"RUNS"+string(filepath.Separator)) {
		t.Errorf("no file of stream RUNS under %s: %v", dir, files)
	}

	// A second client, as another process, sees the provisioned streams
	// and the message.
	cl := bustest.Client(t, c)
	if cl.Embedded() {
		t.Error("a client by URL claims to run a server")
	}
	if cl.URL() != c.URL() {
		t.Errorf("client URL %q, server URL %q", cl.URL(), c.URL())
	}
	decl, err := bus.ParseDeclaration(balcony.StreamsYAML)
	if err != nil {
		t.Fatal(err)
	}
	info, err := cl.JS.AccountInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := len(decl.Streams) + len(decl.KV) + len(decl.Objects); info.Streams != want {
		t.Errorf("client sees %d streams, want %d", info.Streams, want)
	}
	for _, s := range decl.Streams {
		if _, err := cl.JS.Stream(ctx, s.Name); err != nil {
			t.Errorf("stream %s: %v", s.Name, err)
		}
	}
	for _, b := range decl.KV {
		if _, err := cl.JS.KeyValue(ctx, b.Bucket); err != nil {
			t.Errorf("kv bucket %s: %v", b.Bucket, err)
		}
	}
	s, err := cl.JS.Stream(ctx, "RUNS")
	if err != nil {
		t.Fatal(err)
	}
	si, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if si.State.Msgs != 1 {
		t.Errorf("client sees %d messages in RUNS, want 1", si.State.Msgs)
	}
}

func containsPath(paths []string, part string) bool {
	for _, p := range paths {
		if strings.Contains(p, part) {
			return true
		}
	}
	return false
}

func TestConnectEmbeddedRejectsBadOptions(t *testing.T) {
	for name, o := range map[string]bus.EmbeddedOptions{
		"no data dir":     {Listen: "127.0.0.1:0"},
		"no port":         {DataDir: t.TempDir(), Listen: "127.0.0.1"},
		"port not number": {DataDir: t.TempDir(), Listen: "127.0.0.1:http4222"},
	} {
		t.Run(name, func(t *testing.T) {
			c, err := bus.Connect(context.Background(), bus.Options{Embedded: o, Log: zerolog.Nop()})
			if err == nil {
				c.Close()
				t.Fatal("connected")
			}
			if !strings.Contains(err.Error(), "embedded server") {
				t.Errorf("error %q does not name the embedded server", err)
			}
		})
	}
}

func TestConnectDeadPortFailsAtOnce(t *testing.T) {
	addr := freeAddr(t)
	start := time.Now()
	c, err := bus.Connect(context.Background(), bus.Options{URL: "nats://" + addr, Log: zerolog.Nop()})
	if err == nil {
		c.Close()
		t.Fatal("connected to a dead port")
	}
	if !strings.Contains(err.Error(), addr) {
		t.Errorf("error %q does not name %s", err, addr)
	}
	// Without WaitForServer there is no retry: far below the 1s backoff.
	if d := time.Since(start); d > 900*time.Millisecond {
		t.Errorf("failing took %s; want no retry", d)
	}
}

func TestConnectWaitsForServer(t *testing.T) {
	addr := freeAddr(t)
	waiting := newLogSignal("waiting for the bus")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	type result struct {
		c   *bus.Conn
		err error
	}
	done := make(chan result, 1)
	go func() {
		c, err := bus.Connect(ctx, bus.Options{
			URL: "nats://" + addr, WaitForServer: true, ConnectTimeout: time.Second,
			Log: zerolog.New(waiting),
		})
		done <- result{c, err}
	}()
	select {
	case <-waiting.seen:
	case r := <-done:
		t.Fatalf("Connect returned before a server was up: %v", r.err)
	case <-ctx.Done():
		t.Fatal("Connect never logged that it waits")
	}
	srv := embedded(t, t.TempDir(), addr)
	t.Cleanup(srv.Close)
	var r result
	select {
	case r = <-done:
	case <-ctx.Done():
		t.Fatal("Connect did not return once the server was up")
	}
	if r.err != nil {
		t.Fatalf("Connect: %v", r.err)
	}
	defer r.c.Close()
	if r.c.Embedded() || !r.c.NC.IsConnected() {
		t.Fatalf("embedded %v, connected %v", r.c.Embedded(), r.c.NC.IsConnected())
	}
	if _, err := r.c.JS.Stream(ctx, "EVENTS"); err != nil {
		t.Errorf("waiting client does not see the server's streams: %v", err)
	}
}

func TestConnectWaitEndsWithContext(t *testing.T) {
	addr := freeAddr(t)
	waiting := newLogSignal("waiting for the bus")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		c, err := bus.Connect(ctx, bus.Options{URL: "nats://" + addr, WaitForServer: true, Log: zerolog.New(waiting)})
		if err == nil {
			c.Close()
		}
		done <- err
	}()
	timeout := time.After(30 * time.Second)
	select {
	case <-waiting.seen:
	case <-timeout:
		t.Fatal("Connect never logged that it waits")
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v, want context.Canceled", err)
		}
	case <-timeout:
		t.Fatal("Connect kept waiting after its context ended")
	}
}

func TestReconnectAfterRestartKeepsData(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	first := embedded(t, dir, "127.0.0.1:0")
	listen := strings.TrimPrefix(first.URL(), "nats://")
	if _, err := first.Publish(ctx, "balcony.commit.puppet", "c1",
		protocol.RunRequest{Schema: protocol.SchemaVersion, ID: "c1"}); err != nil {
		first.Close()
		t.Fatal(err)
	}

	reg := prometheus.NewRegistry()
	cl, err := bus.Connect(ctx, bus.Options{URL: first.URL(), Name: t.Name() + "-client", Log: zerolog.Nop(), Registerer: reg})
	if err != nil {
		first.Close()
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	reconnected := make(chan struct{}, 4)
	cl.OnReconnect(func() { reconnected <- struct{}{} })

	first.Close()
	if first.Embedded() {
		t.Error("Embedded() still true after Close")
	}
	second := embedded(t, dir, listen)
	t.Cleanup(second.Close)

	select {
	case <-reconnected:
	case <-time.After(30 * time.Second):
		t.Fatal("OnReconnect not called after the server came back")
	}
	bustest.Eventually(t, 5*time.Second, "the client to be connected", cl.NC.IsConnected)
	// The metrics count the loss and the return (the reconnect handler
	// counts before it calls OnReconnect's callbacks).
	if got := metricstest.Value(t, reg, "balcony_bus_disconnects_total"); got < 1 {
		t.Errorf("balcony_bus_disconnects_total = %v after a server restart, want at least 1", got)
	}
	if got := metricstest.Value(t, reg, "balcony_bus_reconnects_total"); got < 1 {
		t.Errorf("balcony_bus_reconnects_total = %v after a server restart, want at least 1", got)
	}

	s, err := cl.JS.Stream(ctx, "COMMITS")
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 1 {
		t.Fatalf("COMMITS has %d messages after the restart, want 1", info.State.Msgs)
	}
	// The duplicate window survives the restart too: the same id again is
	// dropped.
	ack, err := cl.Publish(ctx, "balcony.commit.puppet", "c1", protocol.RunRequest{Schema: protocol.SchemaVersion, ID: "c1"})
	if err != nil {
		t.Fatal(err)
	}
	if !ack.Duplicate {
		t.Error("a message id published before the restart is not a duplicate after it")
	}
}

func TestOnReconnectCallsEveryCallback(t *testing.T) {
	dir := t.TempDir()
	first := embedded(t, dir, "127.0.0.1:0")
	listen := strings.TrimPrefix(first.URL(), "nats://")
	cl := bustest.Client(t, first)
	got := make(chan int, 8)
	for i := range 3 {
		cl.OnReconnect(func() { got <- i })
	}
	first.Close()
	second := embedded(t, dir, listen)
	t.Cleanup(second.Close)
	timeout := time.After(30 * time.Second)
	for want := range 3 {
		select {
		case i := <-got:
			if i != want {
				t.Fatalf("callback %d called in position %d", i, want)
			}
		case <-timeout:
			t.Fatalf("only %d of 3 callbacks called", want)
		}
	}
}

func TestDataDirIsCreatedWithPrivateMode(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	c := embedded(t, dir, "127.0.0.1:0")
	t.Cleanup(c.Close)
	st, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if perm := st.Mode().Perm(); perm&0o007 != 0 {
		t.Errorf("data dir mode %v is open to others", perm)
	}
}
