package browser

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// Phone viewport of Page.Phone, in CSS pixels: an iPhone 12 to 15's, a
// common small phone that the web view must fit.
const (
	PhoneWidth  = 390
	PhoneHeight = 844
)

// waitInterval is how often WaitText looks at the page. It is the wait's
// granularity, not a time anything is assumed to take.
const waitInterval = 50 * time.Millisecond

// Page is one browser tab, in a browser context of its own (cookies,
// storage and extra headers are not shared with other pages), closed when
// the test that opened it ends. Its methods fail the test on error.
type Page struct {
	t       testing.TB
	ctx     context.Context // the tab's, bounded by the test's deadline
	headers network.Headers

	mu       sync.Mutex
	errs     []string                 // JS errors seen so far, in order
	barriers map[string]chan struct{} // JSErrors's markers not yet seen
	nbarrier int
}

// Page opens a new tab for t and closes it in t.Cleanup, after writing a
// screenshot of it (failed-page<n>.png, n counting b's pages from 1) if t
// failed. t may be a subtest of the test that started b; pages of one
// browser may be used from parallel subtests, each page by one.
func (b *Browser) Page(t testing.TB) *Page {
	t.Helper()
	tab, cancelTab := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	if err := firstRun(t, tab, cancelTab); err != nil {
		cancelTab()
		t.Fatalf("browser: opening a tab: %v", err)
	}
	ctx, cancelDeadline := withTestDeadline(t, tab)
	p := &Page{t: t, ctx: ctx, headers: network.Headers{}, barriers: map[string]chan struct{}{}}
	// The viewport is set rather than left to the window: a new headless
	// window of 1280x900 has a viewport 143 pixels shorter (Chromium 156),
	// a number that changes between versions.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(DesktopWidth, DesktopHeight)); err != nil {
		cancelDeadline()
		cancelTab()
		t.Fatalf("browser: setting the viewport: %v", err)
	}
	// Subscribed here, before the first navigation, so no message is lost.
	messages := chromedp.Console(tab)
	collected := make(chan struct{})
	go func() {
		defer close(collected)
		p.collect(messages)
	}()
	b.mu.Lock()
	b.npages++
	n := b.npages
	b.mu.Unlock()
	t.Cleanup(func() {
		if t.Failed() {
			// What the page showed when the test failed, for the person
			// reading the failure; the tab is still open here.
			ctx, cancel := context.WithTimeout(tab, 30*time.Second)
			if path, err := writeScreenshot(ctx, t, fmt.Sprintf("failed-page%d", n)); err != nil {
				t.Logf("browser: no screenshot of the failed test's page %d: %v", n, err)
			} else {
				t.Logf("screenshot of page %d as the test failed: %s", n, path)
			}
			cancel()
		}
		cancelDeadline()
		cancelTab() // ends the console subscription too
		<-collected
	})
	return p
}

// Context is the tab's chromedp context, bounded by the test's deadline, for
// chromedp actions this package does not wrap:
//
//	chromedp.Do(p.Context(), chromedp.Submit(chromedp.CSS("form")))
func (p *Page) Context() context.Context { return p.ctx }

// Go navigates to url, waits for the page's load event, and returns the
// HTTP status of the document (a test of a refused request checks it). It
// fails the test when the page cannot be loaded at all.
func (p *Page) Go(url string) (status int) {
	p.t.Helper()
	resp, err := chromedp.Run(p.ctx, chromedp.NavigateResponse(url))
	if err != nil {
		p.t.Fatalf("browser: loading %s: %v", url, err)
	}
	if resp == nil { // not HTTP (about:, data:)
		return 0
	}
	return int(resp.Status)
}

// SetHeader adds a header to every request the page makes from now on,
// including its fetches and EventSource streams: what an authenticating
// proxy in front of balcony would add (X-Forwarded-User: statler).
func (p *Page) SetHeader(name, value string) {
	p.t.Helper()
	p.headers[name] = value
	err := chromedp.Do(p.ctx, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: p.headers})
		return err
	}))
	if err != nil {
		p.t.Fatalf("browser: setting header %s: %v", name, err)
	}
}

// Phone makes the page a phone's: a PhoneWidth x PhoneHeight viewport at
// scale 1, with mobile layout (meta viewport honoured) and touch events.
// Screenshots after it are PhoneWidth pixels wide.
func (p *Page) Phone() {
	p.t.Helper()
	err := chromedp.Do(p.ctx, chromedp.EmulateViewport(PhoneWidth, PhoneHeight,
		chromedp.EmulatePortrait, chromedp.EmulateMobile, chromedp.EmulateTouch))
	if err != nil {
		p.t.Fatalf("browser: emulating a phone: %v", err)
	}
}

// Text returns the visible text (innerText) of the first element matching
// the CSS selector, waiting for such an element to exist. A hidden element's
// text is "".
func (p *Page) Text(selector string) string {
	p.t.Helper()
	text, err := chromedp.Run(p.ctx, chromedp.Text(chromedp.CSS(selector)))
	if err != nil {
		p.t.Fatalf("browser: text of %s: %v", selector, err)
	}
	return text
}

// WaitText waits until the first element matching the CSS selector exists
// and its visible text contains substr, and returns that text. It only
// watches the page, never reloads it, so it proves a live update arrived.
// At the test's deadline it fails the test with the text the element had.
func (p *Page) WaitText(selector, substr string) string {
	p.t.Helper()
	const predicate = `(selector, substr) => {
		const e = document.querySelector(selector);
		return e !== null && e.innerText.includes(substr) ? e.innerText : false;
	}`
	for {
		// Polled in the page, at an interval rather than on animation
		// frames, which a page that is not visible does not get.
		text, err := chromedp.Run(p.ctx, chromedp.PollFunction[string](predicate,
			chromedp.WithPollingArgs(selector, substr),
			chromedp.WithPollingInterval(waitInterval),
			chromedp.WithPollingTimeout(0)))
		if err == nil {
			return text
		}
		// A navigation (a form posted, a redirect) ends the document the
		// poll ran in: wait on in the next one.
		if p.ctx.Err() == nil && navigated(err) {
			select {
			case <-p.ctx.Done():
			case <-time.After(waitInterval):
			}
			continue
		}
		p.t.Fatalf("browser: waiting for %q in %s: %v; it shows %s", substr, selector, err, p.describe(selector))
	}
}

// navigated tells whether err is the end of the document a script ran in,
// which a navigation brings.
func navigated(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "Cannot find context with specified id") ||
		strings.Contains(msg, "Execution context was destroyed") ||
		strings.Contains(msg, "Inspected target navigated or closed")
}

// describe says what the element matching selector shows, for a failure
// message written after the page's context may have ended.
func (p *Page) describe(selector string) string {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(p.ctx), 5*time.Second)
	defer cancel()
	text, err := chromedp.Run(ctx, chromedp.Evaluate[*string](
		`(e => e === null ? null : e.innerText)(document.querySelector(`+strconv.Quote(selector)+`))`))
	switch {
	case err != nil:
		return "(unknown: " + err.Error() + ")"
	case text == nil:
		return "no such element"
	default:
		return strconv.Quote(*text)
	}
}

// Click clicks the middle of the first element matching the CSS selector,
// with the mouse, as a person would, after waiting for it to be visible.
func (p *Page) Click(selector string) {
	p.t.Helper()
	if err := chromedp.Do(p.ctx, chromedp.Click(chromedp.CSS(selector))); err != nil {
		p.t.Fatalf("browser: clicking %s: %v", selector, err)
	}
}

// Type focuses the first element matching the CSS selector and types text
// into it, key by key.
func (p *Page) Type(selector, text string) {
	p.t.Helper()
	if err := chromedp.Do(p.ctx, chromedp.SendKeys(chromedp.CSS(selector), text)); err != nil {
		p.t.Fatalf("browser: typing into %s: %v", selector, err)
	}
}

// Press sends keys to whatever has the focus, as a keyboard would: each
// rune a key down, char and key up. Special keys are the constants of
// github.com/chromedp/chromedp/kb, e.g. p.Press(kb.Tab + kb.Enter) moves
// the focus on and activates what it lands on.
func (p *Page) Press(keys string) {
	p.t.Helper()
	if err := chromedp.Do(p.ctx, chromedp.KeyEvent(keys)); err != nil {
		p.t.Fatalf("browser: pressing %q: %v", keys, err)
	}
}

// Eval evaluates a JavaScript expression in p and decodes its JSON value
// into a T, failing the test if it throws or does not decode.
func Eval[T any](p *Page, expression string) T {
	p.t.Helper()
	v, err := chromedp.Run(p.ctx, chromedp.Evaluate[T](expression))
	if err != nil {
		p.t.Fatalf("browser: evaluating %s: %v", expression, err)
	}
	return v
}

// JSErrors returns the page's JavaScript errors so far, oldest first:
// uncaught exceptions and unhandled rejections, console.error and
// console.assert calls, and the errors the browser logs for the page, such
// as a resource that failed to load. Each is one line: what, text, and
// where. It first makes sure every message the page wrote before the call
// has been collected.
func (p *Page) JSErrors() []string {
	p.t.Helper()
	if err := p.barrier(); err != nil {
		p.t.Fatalf("browser: collecting the page's errors: %v", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.errs...)
}

// barrierPrefix marks JSErrors's console messages; they are not errors.
const barrierPrefix = "balcony-e2e-browser-barrier-"

// barrier writes a marker to the page's console and waits for the
// collector to see it: the console keeps its order, so every message written
// before it has been collected then.
func (p *Page) barrier() error {
	p.mu.Lock()
	p.nbarrier++
	token := barrierPrefix + strconv.Itoa(p.nbarrier)
	seen := make(chan struct{})
	p.barriers[token] = seen
	p.mu.Unlock()
	if err := chromedp.Do(p.ctx, chromedp.Evaluate[chromedp.Void](`console.debug(`+strconv.Quote(token)+`)`)); err != nil {
		return err
	}
	select {
	case <-seen:
		return nil
	case <-p.ctx.Done():
		return p.ctx.Err()
	}
}

// collect records the page's error messages until the subscription ends.
func (p *Page) collect(messages iter.Seq2[chromedp.ConsoleMessage, error]) {
	for m, err := range messages {
		if err != nil {
			if !errors.Is(err, context.Canceled) {
				p.record("browser: reading the console: " + err.Error())
			}
			return
		}
		switch {
		case m.Type == chromedp.ConsoleDebug && strings.HasPrefix(m.Text, barrierPrefix):
			p.mu.Lock()
			if seen, ok := p.barriers[m.Text]; ok {
				close(seen)
				delete(p.barriers, m.Text)
			}
			p.mu.Unlock()
		case m.Type == chromedp.ConsoleException, m.Type == chromedp.ConsoleError, m.Type == "assert":
			p.record(formatMessage(m))
		}
	}
}

func (p *Page) record(line string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.errs = append(p.errs, line)
}

// formatMessage is one line: "exception: Uncaught ReferenceError: x is not
// defined (http://127.0.0.1:1234/page:12)"; a message of the browser's own
// log names its source ("network error: ...").
func formatMessage(m chromedp.ConsoleMessage) string {
	kind := string(m.Type)
	if m.Source != "" {
		kind = m.Source + " " + kind
	} else if m.Type != chromedp.ConsoleException {
		kind = "console." + kind
	}
	line := kind + ": " + m.Text
	if m.URL != "" {
		line += fmt.Sprintf(" (%s:%d)", m.URL, m.Line+1)
	}
	return line
}
