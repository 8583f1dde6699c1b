package browser

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// EnvChromium names the browser binary (a name on PATH or a path) to use
// instead of the first of chromium, chromium-browser and google-chrome
// found on PATH.
const EnvChromium = "BALCONY_CHROMIUM"

// candidates are the names Start looks for on PATH, in order: Debian's
// package first, since that is what .ci/run installs.
var candidates = []string{"chromium", "chromium-browser", "google-chrome"}

// Desktop viewport of every new page, in CSS pixels at scale 1: wide
// enough for the web view's desktop layout, and fixed so that screenshots of
// one page compare across runs. Page.Phone changes one page to a phone's.
const (
	DesktopWidth  = 1280
	DesktopHeight = 900
)

// Browser is one headless Chromium process, stopped when the test that
// started it ends. Open tabs with Page.
type Browser struct {
	ctx  context.Context // chromedp's browser context: pages are opened from it
	path string

	out lockedBuffer // the browser's stdout and stderr, logged if the test fails

	mu     sync.Mutex
	npages int // pages opened, to name their screenshots on failure
}

// Start starts a headless Chromium for t and stops it (and removes its
// profile directory) in t.Cleanup. It fails t when no browser binary is
// found or the browser does not start.
func Start(t testing.TB) *Browser {
	t.Helper()
	path, err := findChromium()
	if err != nil {
		t.Fatal(err)
	}
	b := &Browser{path: path}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.WindowSize(DesktopWidth, DesktopHeight),
		// No GPU here; software rendering is what a machine without
		// one (CI) does anyway, so screenshots look the same everywhere.
		chromedp.DisableGPU,
		// Chromium's sandbox refuses to run as root, and CI runs as root.
		// chromedp adds this by itself for root; said here so it is not a
		// surprise. Tests load only pages served by the test itself.
		chromedp.Flag("no-sandbox", os.Geteuid() == 0),
		// The default (kept from chromedp's list, repeated for the reader):
		// shared memory in the temporary directory, not /dev/shm, which is
		// 64 MB in a default container and makes the renderer crash when full.
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.CombinedOutput(&b.out),
	)
	// chromedp creates a temporary profile (user-data-dir) per browser and
	// removes it when the browser has exited, after killing stray children;
	// a t.TempDir would race those children in its own RemoveAll.
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	b.ctx = ctx
	t.Cleanup(func() {
		cancel() // closes the browser
		cancelAlloc()
		if t.Failed() {
			t.Logf("browser %s output:\n%s", b.path, b.out.String())
		}
	})
	// The first run on the browser context starts the process.
	if err := firstRun(t, ctx, cancel); err != nil {
		t.Fatalf("starting %s: %v", path, err)
	}
	t.Logf("browser: %s", path)
	return b
}

// findChromium returns the path of the browser binary: $BALCONY_CHROMIUM if
// set, else the first of candidates on PATH.
func findChromium() (string, error) {
	if name := os.Getenv(EnvChromium); name != "" {
		path, err := exec.LookPath(name)
		if err != nil {
			return "", &notFoundError{msg: EnvChromium + "=" + name + ": " + err.Error()}
		}
		return path, nil
	}
	for _, name := range candidates {
		if path, err := exec.LookPath(name); err == nil {
			return path, nil
		}
	}
	return "", &notFoundError{msg: "none of " + strings.Join(candidates, ", ") + " is on PATH"}
}

// notFoundError says what to install: the test fails rather than skips, so
// its message is the fix.
type notFoundError struct{ msg string }

func (e *notFoundError) Error() string {
	return "browser: no Chromium to drive (" + e.msg + "): install Debian's chromium " +
		"(apt-get install --no-install-recommends chromium; .ci/run does) or set " +
		EnvChromium + " to a Chromium or Chrome binary"
}

// withTestDeadline bounds ctx by t's deadline less a tenth of the time left,
// so a step that never completes fails with its own message, and cleanup
// still runs, before go test's -timeout panics. Without a deadline (-timeout
// 0) the step waits as long as it takes.
func withTestDeadline(t testing.TB, ctx context.Context) (context.Context, context.CancelFunc) {
	type deadliner interface{ Deadline() (time.Time, bool) }
	if d, ok := t.(deadliner); ok {
		if deadline, ok := d.Deadline(); ok {
			grace := time.Until(deadline) / 10
			return context.WithDeadline(ctx, deadline.Add(-grace))
		}
	}
	return context.WithCancel(ctx)
}

// firstRun runs chromedp's first action on ctx, which starts the browser
// or opens the tab and ties it to ctx (so it cannot run on a context with a
// shorter life), and gives up, cancelling ctx, at the test's deadline.
func firstRun(t testing.TB, ctx context.Context, cancel context.CancelFunc) error {
	deadline, stop := withTestDeadline(t, context.Background())
	defer stop()
	done := make(chan error, 1)
	go func() { done <- chromedp.Do(ctx) }()
	select {
	case err := <-done:
		return err
	case <-deadline.Done():
		cancel()
		<-done
		return deadline.Err()
	}
}

// lockedBuffer collects the browser's output, written by chromedp's
// goroutine and read by the test's.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
