package e2e

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/balcony-dev/balcony/e2e/browser"
	"github.com/balcony-dev/balcony/pkg/credentials"
	"github.com/balcony-dev/balcony/pkg/protocol"
)

// startWeb starts the web view behind a pretend authenticating proxy: the
// test's browser sets X-Forwarded-User itself, from loopback.
func (f *fleet) startWeb(t *testing.T) (string, *proc) {
	t.Helper()
	listen := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	addr, args := withMetrics(t, slices.Concat([]string{"web"}, f.busArgs(credentials.Web, ""),
		[]string{"--http-listen", listen, "--user-header", "X-Forwarded-User", "--log-level", "debug"}))
	p := start(t, f.dir, "web", args...)
	p.metrics = addr
	base := "http://" + listen
	eventually(t, 60*time.Second, "the web view answering", func() bool {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == http.StatusOK
	})
	return base, p
}

// TestWebView drives a real headless Chromium against the web view while
// a push goes through the pipeline: the commit list, open all along and
// never reloaded, shows the commit nooping, then ready, then approved; the
// commit page shows its group and its diff, and approves as the proxy's
// user; the host page shows the pending change. Screenshots of each page
// are written for people to look at (browser.ScreenshotDir).
func TestWebView(t *testing.T) {
	f := newFleet(t, muppets[:2])
	f.startApprover(t)
	base, web := f.startWeb(t)
	before := scrape(t, web)
	b := browser.Start(t)
	const statler = "statler.example.com"

	list := b.Page(t)
	if code := list.Go(base + "/"); code != http.StatusOK {
		t.Fatalf("the commit list: HTTP %d", code)
	}
	list.WaitText("#live", "live")
	// A mark a reload would lose.
	browser.Eval[bool](list, "(window.balconyTestMark = 'no reload', true)")

	// statler's agent is stopped while the push is nooped, so the noop
	// stays running until the page has shown it: nothing here races the
	// Puppet runs.
	f.agents[statler].stop()
	seat := f.push(t, 2) // statler's node file: statler owns the change
	row := fmt.Sprintf(`tr[data-sha="%s"]`, seat)
	list.WaitText(row+" .badge", "nooping")
	list.WaitText(row, "1 of 2 hosts answered")
	list.Screenshot("commits-nooping")
	f.startAgent(t, statler)
	list.WaitText(row+" .badge", "ready")
	list.WaitText(row+" .badge", "needs approval")
	list.WaitText(row, "1 group on 2 hosts")
	list.Screenshot("commits-ready")

	page := b.Page(t)
	page.SetHeader("X-Forwarded-User", "statler")
	if code := page.Go(base + "/commit/" + seat); code != http.StatusOK {
		t.Fatalf("the commit page: HTTP %d", code)
	}
	page.WaitText("#groups", "File[/etc/balcony/seat]")
	page.WaitText("#groups .group .where", "manifests/")
	page.WaitText("#groups .diff", "+++ /etc/balcony/seat")
	if added := page.Text("#groups .diff .add"); added == "" {
		t.Error("the seat's diff has no added line")
	}
	page.WaitText("#groups .owners", "statler")
	page.WaitText("#stage", "needs approval")
	page.WaitText("header .user", "signed in as statler")
	page.Screenshot("commit-ready")
	// By keyboard: the approve button takes the focus and Enter presses it.
	browser.Eval[bool](page, "(document.getElementById('approve').focus(), true)")
	page.Press("\r")
	page.WaitText(".said", "Approved as statler.")
	page.WaitText("#stage .badge", "approved")
	page.Screenshot("commit-approved")

	list.WaitText(row+" .badge", "approved")
	if mark := browser.Eval[string](list, "window.balconyTestMark || ''"); mark != "no reload" {
		t.Errorf("the commit list was reloaded (mark %q)", mark)
	}
	list.Screenshot("commits-approved")

	host := b.Page(t)
	if code := host.Go(base + "/host/" + statler); code != http.StatusOK {
		t.Fatalf("the host page: HTTP %d", code)
	}
	host.WaitText("#pending", protocol.Short(seat))
	host.WaitText("#pending .group", "File[/etc/balcony/seat]")
	host.WaitText("#runs", protocol.Short(seat))
	host.Screenshot("host")

	fleet := b.Page(t)
	fleet.Go(base + "/fleet")
	fleet.WaitText(fmt.Sprintf(`a.pending[href="/host/%s"]`, statler), "1 change in 1 commit")
	fleet.Screenshot("fleet")

	phone := b.Page(t)
	phone.Phone()
	phone.Go(base + "/commit/" + seat)
	phone.WaitText("#groups", "File[/etc/balcony/seat]")
	phone.Screenshot("commit-phone")

	for name, p := range map[string]*browser.Page{"list": list, "commit": page, "host": host, "fleet": fleet, "phone": phone} {
		if errs := p.JSErrors(); len(errs) > 0 {
			t.Errorf("JavaScript errors on the %s page:\n%s", name, strings.Join(errs, "\n"))
		}
	}
	t.Logf("screenshots in %s", browser.ScreenshotDir())

	// Its metrics endpoint counted the pages served, the events followed
	// (by the pages still open) and the approval made from a page.
	after := scrape(t, web)
	for _, c := range []struct {
		name   string
		labels []string
	}{
		{"balcony_web_requests_total", []string{`page="commit"`, `code="200"`}},
		{"balcony_web_events_total", nil},
		{"balcony_web_render_seconds_count", []string{`page="host"`}},
	} {
		if b, a := before.sum(c.name, c.labels...), after.sum(c.name, c.labels...); a <= b {
			t.Errorf("the web view's %s%v did not move: %v, then %v", c.name, c.labels, b, a)
		}
	}
	if got := after.sum("balcony_web_event_streams"); got < 1 {
		t.Errorf("the web view counts %v pages following events, with five open", got)
	}
	if got := after.sum("balcony_web_approvals_total", `verb="approve"`, `outcome="ok"`) -
		before.sum("balcony_web_approvals_total", `verb="approve"`, `outcome="ok"`); got != 1 {
		t.Errorf("the web view counted %v approvals, want 1", got)
	}
}
