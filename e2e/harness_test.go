package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/bus/bustest"
	"github.com/balcony-dev/balcony/pkg/protocol"
)

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// TestMain removes the binaries built for the tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// requirePuppet skips outside CI when Puppet is missing; in CI a missing
// Puppet is a failure (.ci/run installs it).
func requirePuppet(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("puppet"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("puppet is not installed: run scripts/ensure-puppet.sh")
		}
		t.Skip("puppet is not installed (scripts/ensure-puppet.sh installs it)")
	}
}

// binaries builds balcony's commands once per test binary.
func binaries(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "balcony-e2e-bin-")
		if buildErr != nil {
			return
		}
		cmd := exec.Command("go", "build", "-o", binDir+"/", "./cmd/...")
		cmd.Dir = repoRoot()
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binDir
}

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// proc is a balcony daemon started by a test, its output in a log file.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	// metrics is the address of its metrics endpoint (withMetrics).
	metrics string
}

func start(t *testing.T, dir, name string, args ...string) *proc {
	t.Helper()
	logPath := filepath.Join(dir, name+".log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(binaries(t), args[0]), args[1:]...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); f.Close(); close(p.done) }()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			data, _ := os.ReadFile(logPath)
			t.Logf("--- %s log (last 4 KiB) ---\n%s", name, tail(string(data), 4096))
		}
	})
	return p
}

// stop sends SIGTERM and waits for a clean exit (SIGKILL after 20s).
func (p *proc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// kill9 kills the process at once, as a crash would.
func (p *proc) kill9() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func run(t *testing.T, dir string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// connect opens a client connection to the test's bus.
func connect(t *testing.T, url string) *bus.Conn {
	t.Helper()
	return connectWith(t, bus.Options{URL: url, Name: t.Name(), Log: zerolog.Nop()})
}

// connectWith opens a client connection with opts, retrying while the
// server starts.
func connectWith(t *testing.T, opts bus.Options) *bus.Conn {
	t.Helper()
	url := opts.URL
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var conn *bus.Conn
	var err error
	for ctx.Err() == nil {
		conn, err = bus.Connect(ctx, opts)
		if err == nil {
			t.Cleanup(conn.Close)
			return conn
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
	t.Fatalf("connect %s: %v", url, err)
	return nil
}

// eventually polls cond until it holds or the timeout passes.
var eventually = bustest.Eventually

// events collects balcony.event.<kind> messages.
type events struct {
	mu  sync.Mutex
	evs []protocol.Event
	ch  chan struct{}
}

func watchEvents(t *testing.T, conn *bus.Conn, subject string) *events {
	t.Helper()
	e := &events{ch: make(chan struct{}, 1)}
	sub, err := conn.NC.Subscribe(subject, func(m *nats.Msg) {
		var ev protocol.Event
		if err := jsonUnmarshal(m.Data, &ev); err != nil {
			t.Errorf("event on %s is not JSON: %v: %s", m.Subject, err, m.Data)
			return
		}
		e.mu.Lock()
		e.evs = append(e.evs, ev)
		e.mu.Unlock()
		select {
		case e.ch <- struct{}{}:
		default:
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	return e
}

func (e *events) find(match func(protocol.Event) bool) *protocol.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i := range e.evs {
		if match(e.evs[i]) {
			ev := e.evs[i]
			return &ev
		}
	}
	return nil
}

// runFail runs a command that must fail and returns its output.
func runFail(t *testing.T, dir string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("%s %s succeeded, want a failure:\n%s", name, strings.Join(args, " "), out)
	}
	return string(out)
}
