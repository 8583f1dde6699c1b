package puppet

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

func TestLockHolder(t *testing.T) {
	dir := t.TempDir()
	self := os.Getpid()
	tests := []struct {
		name    string
		content *string // nil: no file
		wantPid int
		held    bool
	}{
		{name: "no file"},
		{name: "live pid", content: ptr(strconv.Itoa(self)), wantPid: self, held: true},
		{name: "live pid and newline, as Puppet writes it", content: ptr(" " + strconv.Itoa(self) + "\n"), wantPid: self, held: true},
		// pid 1 always exists: kill(1, 0) succeeds as root and fails
		// with EPERM otherwise; both mean held.
		{name: "init", content: ptr("1"), wantPid: 1, held: true},
		{name: "dead pid", content: ptr("999999999")},
		{name: "empty", content: ptr("")},
		{name: "garbage", content: ptr("puppet\n")},
		{name: "zero", content: ptr("0")},
		{name: "negative addresses every process", content: ptr("-1")},
		{name: "too large", content: ptr("99999999999999")},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strconv.Itoa(i)+".lock")
			if tc.content != nil {
				writeFile(t, dir, filepath.Base(path), *tc.content, 0o644)
			}
			pid, held := LockHolder(path)
			if held != tc.held || (held && pid != tc.wantPid) {
				t.Errorf("LockHolder = %d, %v; want %d, %v", pid, held, tc.wantPid, tc.held)
			}
		})
	}
}

func ptr(s string) *string { return &s }

// lockRig is a Runner whose "puppet" is a script that only records that
// it ran, with a lock file that the test controls.
type lockRig struct {
	r      *Runner
	lock   string
	ran    string // created by the script when it runs
	polls  chan struct{}
	code   string
	cancel context.CancelFunc
	ctx    context.Context
}

func newLockRig(t *testing.T) *lockRig {
	t.Helper()
	dir := t.TempDir()
	g := &lockRig{
		lock:  filepath.Join(dir, "state", "agent_catalog_run.lock"),
		ran:   filepath.Join(dir, "ran"),
		polls: make(chan struct{}),
		code:  t.TempDir(),
	}
	// Compiling, it prints an empty catalog for the noop to apply.
	bin := writeFile(t, dir, "puppet", "#!/bin/sh\n: > '"+g.ran+"'\necho '{\"resources\":[]}'\n", 0o755)
	g.r = newRunner(t, Options{Binary: bin, LockFile: g.lock, LockPoll: time.Millisecond, ScratchDir: t.TempDir()})
	g.ctx, g.cancel = context.WithCancel(t.Context())
	t.Cleanup(g.cancel)
	// Each poll hands control to the test; the test's end releases it.
	g.r.lockWaitHook = func() {
		select {
		case g.polls <- struct{}{}:
		case <-g.ctx.Done():
		}
	}
	return g
}

func (g *lockRig) hold(t *testing.T, content string) {
	t.Helper()
	writeFile(t, filepath.Dir(g.lock), filepath.Base(g.lock), content, 0o644)
}

type runOutcome struct {
	res *Result
	err error
}

// start runs Puppet in a goroutine; its outcome arrives on the channel.
func (g *lockRig) start() <-chan runOutcome {
	done := make(chan runOutcome, 1)
	go func() {
		res, err := g.r.Run(g.ctx, g.code, true)
		done <- runOutcome{res, err}
	}()
	return done
}

// awaitPoll waits for Run to find the lock held once more, failing when
// Run returns instead or nothing happens for a long while.
func (g *lockRig) awaitPoll(t *testing.T, done <-chan runOutcome) {
	t.Helper()
	select {
	case <-g.polls:
	case out := <-done:
		t.Fatalf("Run returned while the lock was held: %+v", out)
	case <-time.After(30 * time.Second):
		t.Fatal("Run never checked the lock")
	}
}

func (g *lockRig) puppetRan() bool {
	_, err := os.Stat(g.ran)
	return err == nil
}

func TestRunWaitsForLiveLock(t *testing.T) {
	g := newLockRig(t)
	g.hold(t, strconv.Itoa(os.Getpid())+"\n")
	done := g.start()

	// Several polls found the lock held; Run is still waiting.
	for range 3 {
		g.awaitPoll(t, done)
	}
	select {
	case out := <-done:
		t.Fatalf("Run returned while the lock was held: %+v", out)
	default:
	}
	if g.puppetRan() {
		t.Fatal("puppet ran while the agent held its lock")
	}

	if err := os.Remove(g.lock); err != nil {
		t.Fatal(err)
	}
	timeout := time.After(30 * time.Second)
	for {
		select {
		case <-g.polls: // a poll that read the file before it went
			continue
		case out := <-done:
			if out.err != nil {
				t.Fatalf("Run after the lock was released: %v", out.err)
			}
			if !g.puppetRan() {
				t.Error("puppet did not run once the lock was released")
			}
			return
		case <-timeout:
			t.Fatal("Run did not return after the lock was released")
		}
	}
}

func TestRunIgnoresStaleLock(t *testing.T) {
	for _, content := range []string{"999999999\n", "", "not a pid"} {
		t.Run(strconv.Quote(content), func(t *testing.T) {
			g := newLockRig(t)
			g.hold(t, content)
			g.r.lockWaitHook = func() { t.Error("Run waited for a stale lock") }
			if _, err := g.r.Run(t.Context(), g.code, true); err != nil {
				t.Fatalf("Run: %v", err)
			}
			if !g.puppetRan() {
				t.Error("puppet did not run")
			}
		})
	}
}

func TestRunLockedUntilContextEnds(t *testing.T) {
	g := newLockRig(t)
	g.hold(t, strconv.Itoa(os.Getpid()))
	done := g.start()
	g.awaitPoll(t, done)
	g.cancel()
	out := <-done
	if !errors.Is(out.err, ErrLocked) || !errors.Is(out.err, context.Canceled) {
		t.Fatalf("Run = %v, want ErrLocked and context.Canceled", out.err)
	}
	if out.res != nil {
		t.Errorf("a run that never started has a result: %+v", out.res)
	}
	if g.puppetRan() {
		t.Error("puppet ran while the agent held its lock")
	}
}
