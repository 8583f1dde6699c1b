package credentials_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/balcony-dev/balcony/pkg/credentials"
	"github.com/balcony-dev/balcony/pkg/credentials/credtest"
	"github.com/balcony-dev/balcony/pkg/protocol"
	"github.com/balcony-dev/balcony/pkg/web"
)

// The web view runs with its own credentials alone: every page's requests
// to the services and its approvals behind the proxy are allowed (nobody
// answers them here), it follows balcony.event.>, and it cannot announce.
func TestWebRunsWithItsCredentials(t *testing.T) {
	t.Parallel() // each its own bus; most of the time is waiting for a denial
	b := credtest.Start(t, spec, nil)
	conn := b.Connect(t, credentials.Web, "")
	for _, s := range credentials.Streams[credentials.Web] {
		if _, err := conn.JS.Stream(context.Background(), s); err != nil {
			t.Errorf("stream %s: %v", s, err)
		}
	}
	s, err := web.New(conn, web.Options{UserHeader: "X-User", Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, l) }()
	defer func() { cancel(); <-done }()
	base := "http://" + l.Addr().String()

	events, err := http.Get(base + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer events.Body.Close()
	stream := bufio.NewReader(events.Body)
	for line := ""; line != "\n"; {
		if line, err = stream.ReadString('\n'); err != nil {
			t.Fatal(err)
		}
	}

	sha := strings.Repeat("ab", 20)
	for _, path := range []string{"/", "/commit/" + sha[:8], "/host/fozzie.example.com", "/fleet"} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(body), "does not answer") && !strings.Contains(string(body), "is running") {
			t.Errorf("%s: %d without a nooper: %s", path, resp.StatusCode, body)
		}
	}
	req, _ := http.NewRequest(http.MethodPost, base+"/commit/"+sha+"/approve", strings.NewReader(url.Values{"seen": {"a:b"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-User", "kermit")
	req.Header.Set("Origin", base)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "no approver is running") {
		t.Errorf("approve without an approver: %d %s", resp.StatusCode, body)
	}

	if err := b.Nooper.Announce(context.Background(), "", protocol.Event{Type: "noop.started", Commit: sha}); err != nil {
		t.Fatal(err)
	}
	if line, err := stream.ReadString('\n'); err != nil || line != "event: balcony\n" {
		t.Errorf("the event stream: %q, %v", line, err)
	}
	noViolations(t, b)
	rctx, rcancel := context.WithTimeout(context.Background(), denied)
	defer rcancel()
	if err := conn.Announce(rctx, "", protocol.Event{Type: "approval.complete", Commit: sha}); err == nil {
		t.Error("the web view announced an event")
	}
}
