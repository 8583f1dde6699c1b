// Package browser drives a real headless Chromium from Go tests, so that an
// end-to-end test sees balcony's web view as a person does: the page's own
// JavaScript runs, live updates arrive without a reload, keys and clicks go
// through the browser's input pipeline, and screenshots are written for
// people to look at.
//
// It is a thin layer over chromedp (the Chrome DevTools Protocol over a pipe)
// that turns every failure into a test failure, so a test reads as a list of
// steps:
//
//	b := browser.Start(t)
//	p := b.Page(t)
//	p.SetHeader("X-Forwarded-User", "statler") // what the authenticating proxy adds
//	p.Go(srv.URL)
//	p.WaitText("#status", "applied")           // pushed by the server, no reload
//	p.Screenshot("applied")
//	if errs := p.JSErrors(); len(errs) > 0 {
//		t.Errorf("the page logged errors: %q", errs)
//	}
//
// # The browser
//
// Start looks for Debian's chromium on PATH (then chromium-browser and
// google-chrome; $BALCONY_CHROMIUM names another binary) and fails the test
// when there is none: a missing browser is a broken machine, not a reason to
// skip, and .ci/run installs it. Each Page is a tab in a browser context of
// its own (like an incognito window), so two pages share no cookies, storage
// or extra headers and can stand for two different people.
//
// # Waiting
//
// Nothing here sleeps for a fixed time or asserts on timing. WaitText polls
// the page's DOM until the text is there; every call is bounded only by the
// test's deadline (go test -timeout), less a tenth of the time left then so
// that a stuck wait fails with a message saying what the page showed instead
// of the test binary panicking. Page.Context gives that same context to a
// test that needs a chromedp action this package does not wrap.
//
// # Screenshots
//
// Page.Screenshot writes a full-page PNG to
// $BALCONY_SCREENSHOTS/<TestName>/<name>.png, by default under
// os.TempDir()/balcony-screenshots, never inside the repository, and logs the
// path. A later run of the same test overwrites them. When a test fails,
// each of its pages is written as failed-page<n>.png before it closes.
// Pages start with a 1280x900 desktop viewport; Page.Phone makes one a
// 390x844 phone.
//
// Methods of Page call t.Fatal, so call them from the test's goroutine.
package browser
