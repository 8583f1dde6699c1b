package browser

import (
	"context"
	"fmt"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp/kb"
)

// The live page: its status and message change only through the
// EventSource, so a message on it proves an update without a reload. It is
// exactly livePageHeight CSS pixels tall (one fixed-height block, no
// margins), so a full-page screenshot's size is known.
const livePage = `<!doctype html>
<html><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>balcony browser harness</title>
<style>
  html, body { margin: 0; }
  #page { height: 1500px; overflow: hidden; padding: 1em; box-sizing: border-box;
          font: 16px sans-serif; background: linear-gradient(#fff, #dde3f0); }
</style></head>
<body><div id="page">
  <h1>Balcony browser harness</h1>
  <p>Status: <span id="status">connecting</span></p>
  <p>Message: <span id="msg">none yet</span></p>
  <p><input id="name" aria-label="name"> <button id="approve">Approve</button></p>
  <p id="approved"></p>
  <p id="lastkey"></p>
</div>
<script>
  // Set once per load: the same value later means no reload happened.
  window.loadID = Math.random().toString(36).slice(2);
  const $ = id => document.getElementById(id);
  const events = new EventSource("/events");
  events.onopen = () => { $("status").textContent = "connected"; };
  events.onmessage = e => { $("msg").textContent = e.data; };
  let approvals = 0;
  $("approve").addEventListener("click", () => {
    approvals++;
    $("approved").textContent = "approved by " + $("name").value + " (" + approvals + ")";
  });
  document.addEventListener("keydown", e => { $("lastkey").textContent = "last key: " + e.key; });
</script>
</body></html>`

const livePageHeight = 1500

// The broken page throws and logs an error while loading.
const brokenPage = `<!doctype html>
<html><head><meta charset="utf-8"><title>broken</title></head>
<body><p id="p">broken</p>
<script>console.error("boom from the page");</script>
<script>undefinedFunction();</script>
</body></html>`

// The plain page does nothing wrong.
const plainPage = `<!doctype html>
<html><head><meta charset="utf-8"><title>plain</title></head>
<body><p id="p">plain</p><script>console.log("all is well");</script></body></html>`

// testServer serves the pages above and an event stream fed by push, and
// records the X-Forwarded-User header of every request by path.
type testServer struct {
	*httptest.Server
	push chan string

	mu    sync.Mutex
	users map[string][]string
}

func newTestServer(t *testing.T) *testServer {
	s := &testServer{push: make(chan string), users: map[string][]string{}}
	mux := http.NewServeMux()
	page := func(body string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			s.note(r)
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprint(w, body)
		}
	}
	mux.HandleFunc("GET /{$}", page(livePage))
	mux.HandleFunc("GET /broken", page(brokenPage))
	mux.HandleFunc("GET /plain", page(plainPage))
	mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /events", s.events)
	s.Server = httptest.NewServer(mux)
	// Registered before the browser's cleanup, so it runs after it: the
	// browser has closed the event stream by then.
	t.Cleanup(s.Close)
	return s
}

func (s *testServer) note(r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[r.URL.Path] = append(s.users[r.URL.Path], r.Header.Get("X-Forwarded-User"))
}

func (s *testServer) usersOf(path string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.users[path]...)
}

// events streams each message pushed until the client goes.
func (s *testServer) events(w http.ResponseWriter, r *http.Request) {
	s.note(r)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	w.(http.Flusher).Flush() // the page's onopen fires on the headers
	for {
		select {
		case msg := <-s.push:
			fmt.Fprintf(w, "data: %s\n\n", msg)
			w.(http.Flusher).Flush()
		case <-r.Context().Done():
			return
		}
	}
}

// pushMessage hands msg to the page's event stream, bounded by p's deadline.
func pushMessage(t *testing.T, s *testServer, p *Page, msg string) {
	t.Helper()
	select {
	case s.push <- msg:
	case <-p.Context().Done():
		t.Fatalf("no event stream took %q: %v", msg, p.Context().Err())
	}
}

// checkPNG decodes the PNG at path and checks its size in pixels.
func checkPNG(t *testing.T, path string, width, height int) {
	t.Helper()
	if dir := ScreenshotDir(); !strings.HasPrefix(path, dir+string(filepath.Separator)) {
		t.Errorf("screenshot %s is not under %s", path, dir)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if got := img.Bounds().Size(); got.X != width || got.Y != height {
		t.Errorf("%s is %dx%d, want %dx%d", path, got.X, got.Y, width, height)
	}
}

// TestBrowser starts one browser for its subtests, each with pages of its
// own: starting Chromium is most of a test's time.
func TestBrowser(t *testing.T) {
	b := Start(t)
	t.Run("live update arrives without reload", func(t *testing.T) { testLiveUpdate(t, b) })
	t.Run("keyboard and mouse", func(t *testing.T) { testKeyboardAndMouse(t, b) })
	t.Run("JS errors are per page", func(t *testing.T) { testJSErrorsPerPage(t, b) })
	t.Run("a wait that fails says what the page shows", func(t *testing.T) { testWaitFailure(t, b) })
	t.Run("a failed test leaves a screenshot", func(t *testing.T) { testFailureScreenshot(t, b) })
}

func testLiveUpdate(t *testing.T, b *Browser) {
	srv := newTestServer(t)
	p := b.Page(t)
	p.SetHeader("X-Forwarded-User", "statler")
	if status := p.Go(srv.URL + "/"); status != http.StatusOK {
		t.Fatalf("status %d, want 200", status)
	}
	p.WaitText("#status", "connected")
	if w, h := Eval[int](p, "innerWidth"), Eval[int](p, "innerHeight"); w != DesktopWidth || h != DesktopHeight {
		t.Errorf("viewport %dx%d, want %dx%d", w, h, DesktopWidth, DesktopHeight)
	}
	loadID := Eval[string](p, "window.loadID")
	if got := p.Text("#msg"); got != "none yet" {
		t.Fatalf("message before any push: %q", got)
	}

	pushMessage(t, srv, p, "host web1 applied abc123")
	if got := p.WaitText("#msg", "web1 applied"); got != "host web1 applied abc123" {
		t.Errorf("message: %q", got)
	}
	pushMessage(t, srv, p, "host web2 applied abc123")
	p.WaitText("#msg", "web2 applied")
	if got := Eval[string](p, "window.loadID"); got != loadID {
		t.Errorf("the page was reloaded: load id %q, then %q", loadID, got)
	}

	// The header reached the server on the page and on its event stream.
	for _, path := range []string{"/", "/events"} {
		users := srv.usersOf(path)
		if len(users) == 0 {
			t.Errorf("no request for %s", path)
		}
		for _, u := range users {
			if u != "statler" {
				t.Errorf("request for %s had X-Forwarded-User %q, want statler", path, u)
			}
		}
	}

	checkPNG(t, p.Screenshot("desktop"), DesktopWidth, livePageHeight)
	p.Phone()
	checkPNG(t, p.Screenshot("phone"), PhoneWidth, livePageHeight)

	if errs := p.JSErrors(); len(errs) > 0 {
		t.Errorf("JS errors on the live page: %q", errs)
	}
}

func testKeyboardAndMouse(t *testing.T, b *Browser) {
	srv := newTestServer(t)
	p := b.Page(t)
	p.Go(srv.URL + "/")
	p.Type("#name", "statler")
	// Tab moves the focus from the field to the button; Enter presses it.
	p.Press(kb.Tab + kb.Enter)
	p.WaitText("#approved", "approved by statler (1)")
	p.WaitText("#lastkey", "last key: Enter")
	p.Click("#approve")
	p.WaitText("#approved", "approved by statler (2)")
	p.Press("j")
	p.WaitText("#lastkey", "last key: j")
	if errs := p.JSErrors(); len(errs) > 0 {
		t.Errorf("JS errors: %q", errs)
	}
}

func testJSErrorsPerPage(t *testing.T, b *Browser) {
	srv := newTestServer(t)
	broken, plain := b.Page(t), b.Page(t)
	broken.Go(srv.URL + "/broken")
	plain.Go(srv.URL + "/plain")

	errs := broken.JSErrors()
	want := []string{
		`console.error: boom from the page (` + srv.URL + `/broken:4)`,
		`exception: Uncaught ReferenceError: undefinedFunction is not defined (` + srv.URL + `/broken:5)`,
	}
	if strings.Join(errs, "\n") != strings.Join(want, "\n") {
		t.Errorf("errors of the broken page:\n%s\nwant:\n%s", strings.Join(errs, "\n"), strings.Join(want, "\n"))
	}
	if errs := plain.JSErrors(); len(errs) > 0 {
		t.Errorf("errors of the plain page: %q", errs)
	}
	// Asking again sees the same, nothing new.
	if again := broken.JSErrors(); !slices.Equal(again, errs) {
		t.Errorf("errors of the broken page, asked again: %q", again)
	}
}

// fatalRecorder stands for the test in a step expected to fail: it keeps
// the message and ends the step's goroutine as t.Fatal would.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (f *fatalRecorder) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func testWaitFailure(t *testing.T, b *Browser) {
	srv := newTestServer(t)
	p := b.Page(t)
	p.Go(srv.URL + "/plain")
	// The same tab, failing into f, with a short life: the text never
	// comes, so this is only how long the test is willing to wait for
	// nothing.
	ctx, cancel := context.WithTimeout(p.Context(), 300*time.Millisecond)
	defer cancel()
	f := &fatalRecorder{TB: t}
	q := &Page{t: f, ctx: ctx}
	done := make(chan struct{})
	go func() {
		defer close(done)
		q.WaitText("#p", "never shown")
	}()
	<-done
	for _, want := range []string{`waiting for "never shown" in #p`, `it shows "plain"`} {
		if !strings.Contains(f.msg, want) {
			t.Errorf("failure %q does not say %q", f.msg, want)
		}
	}
	f.msg = ""
	done = make(chan struct{})
	go func() {
		defer close(done)
		q.WaitText("#nothing", "never shown")
	}()
	<-done
	if !strings.Contains(f.msg, "it shows no such element") {
		t.Errorf("failure %q does not say the element is missing", f.msg)
	}
}

// failedT stands for a test that failed, keeping its cleanups for the
// caller to run.
type failedT struct {
	testing.TB
	cleanups []func()
}

func (f *failedT) Failed() bool      { return true }
func (f *failedT) Cleanup(fn func()) { f.cleanups = append(f.cleanups, fn) }

func testFailureScreenshot(t *testing.T, b *Browser) {
	srv := newTestServer(t)
	f := &failedT{TB: t}
	p := b.Page(f)
	p.Go(srv.URL + "/plain")
	b.mu.Lock()
	n := b.npages
	b.mu.Unlock()
	path := filepath.Join(ScreenshotDir(), testDir(t.Name()), fmt.Sprintf("failed-page%d.png", n))
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	for _, fn := range slices.Backward(f.cleanups) {
		fn()
	}
	checkPNG(t, path, DesktopWidth, DesktopHeight)
}

func TestNoBrowserSaysWhatToInstall(t *testing.T) {
	t.Setenv(EnvChromium, "no-such-browser-binary")
	_, err := findChromium()
	if err == nil || !strings.Contains(err.Error(), "install Debian's chromium") {
		t.Fatalf("error %v, want one saying to install Debian's chromium", err)
	}
}

func TestScreenshotPaths(t *testing.T) {
	for _, tc := range []struct{ name, want string }{
		{"TestX", "TestX"},
		{"TestX/phone_view", "TestX/phone_view"},
		{"TestX/..", "TestX/___"},
		{"TestX/a:b*c", "TestX/a_b_c"},
		{"TestX/", "TestX/_"},
	} {
		if got := testDir(tc.name); got != filepath.FromSlash(tc.want) {
			t.Errorf("testDir(%q) = %q, want %q", tc.name, got, tc.want)
		}
	}
	if got := fileName("../etc/passwd"); got != ".._etc_passwd" {
		t.Errorf("fileName: %q", got)
	}
	t.Setenv(EnvScreenshots, "/somewhere")
	if got := ScreenshotDir(); got != "/somewhere" {
		t.Errorf("ScreenshotDir with %s set: %q", EnvScreenshots, got)
	}
}
