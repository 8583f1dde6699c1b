package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/balcony-dev/balcony/pkg/approver"
	"github.com/balcony-dev/balcony/pkg/chatbridge/ircdtest"
	"github.com/balcony-dev/balcony/pkg/credentials"
	"github.com/balcony-dev/balcony/pkg/protocol"
)

// startChatBridge starts the bridge on irc's #balcony, statler's nick
// speaking for statler (static trust: ngircd has no services).
func (f *fleet) startChatBridge(t *testing.T, irc *ircdtest.Server, metricsAddr string) *proc {
	t.Helper()
	cfg := filepath.Join(f.dir, "chatbridge.yaml")
	conf := fmt.Sprintf("server: %s\nnick: balcony\nchannels: ['#balcony']\ntrust: static\ncoalesce: 500ms\npeople:\n  statler: {nick: statler}\n  kermit: {nick: kermit}\n", irc.Addr)
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	return start(t, f.dir, "chatbridge", slices.Concat([]string{"chatbridge"}, f.busArgs(credentials.ChatBridge, ""),
		[]string{"--config", cfg, "--log-level", "debug", "--metrics-listen", metricsAddr})...)
}

// TestChatBridge: a push is announced in the channel, once per line
// across a restart of the bridge in the middle of it; status answers with
// the stage; approve from a mapped nick approves, from an unmapped one is
// refused.
func TestChatBridge(t *testing.T) {
	irc := ircdtest.Start(t, "#balcony")
	f := newFleet(t, muppets[:2])
	f.startApprover(t)
	watcher := ircdtest.Connect(t, irc, "watcher", "#balcony")
	statler := ircdtest.Connect(t, irc, "statler", "#balcony")
	bridge := f.startChatBridge(t, irc, fmt.Sprintf("127.0.0.1:%d", freePort(t)))
	eventually(t, 60*time.Second, "the bridge in #balcony", func() bool { return watcher.Joined("balcony") })

	seat := f.push(t, 2) // statler's node file: statler owns the change
	short := protocol.Short(seat)
	fromBridge := func(what, sub string) ircdtest.Line {
		t.Helper()
		return watcher.WaitLine(t, 0, "balcony", what, func(l ircdtest.Line) bool {
			return strings.HasPrefix(l.Text, short) && strings.Contains(l.Text, sub)
		})
	}
	fromBridge("the noop started", "nooping on 2 hosts")
	// Restarted mid-stream: the noop goes on while the bridge is down.
	bridge.stop()
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	f.startChatBridge(t, irc, metricsAddr)
	f.waitReady(t, seat)
	fromBridge("the noop ready", "noop ready: 1 change group on 2 hosts")
	fromBridge("approval needed", "need") // "1 change group needs approval from statler"

	ask := func(who *ircdtest.Client, text, sub string) string {
		t.Helper()
		who.Say("#balcony", text)
		return who.WaitLine(t, 0, "balcony", "the answer to "+text, func(l ircdtest.Line) bool {
			return strings.HasPrefix(l.Text, who.Nick+": ") && strings.Contains(l.Text, sub)
		}).Text
	}
	if got := ask(watcher, "balcony: status "+short, "needs approval"); !strings.Contains(got, "noop ready") {
		t.Errorf("status: %q", got)
	}
	if got := ask(watcher, "balcony: approve "+short, "refused"); !strings.Contains(got, "watcher is mapped to no login") {
		t.Errorf("approve from an unmapped nick: %q", got)
	}
	st, err := approver.Client{NC: f.conn.NC}.Status(context.Background(), seat)
	if err != nil || st.Approved || len(st.Approvals) != 0 {
		t.Fatalf("after a refused approval: %+v, %v", st, err)
	}
	if got := ask(statler, "balcony: approve "+short, "approve as statler"); !strings.Contains(got, "is approved") {
		t.Errorf("approve from statler: %q", got)
	}
	fromBridge("approved", "approved (1 change group)")
	if got := ask(watcher, "balcony: status "+short, "approved"); !strings.Contains(got, "apply:") {
		t.Errorf("status once approved: %q", got)
	}

	// The restarted bridge's counters moved.
	resp, err := http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`balcony_chatbridge_events_announced_total{type="approval.complete"} 1`,
		`balcony_chatbridge_commands_total{outcome="refused",verb="approve"} 1`, `balcony_chatbridge_commands_total{outcome="ok",verb="approve"} 1`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}

	// Every announcement came once: no line twice, across the restart.
	seen := map[string]int{}
	for _, l := range watcher.Lines("balcony") {
		if l.To != "#balcony" || strings.HasPrefix(l.Text, "watcher: ") || strings.HasPrefix(l.Text, "statler: ") {
			continue // an answer, not an announcement
		}
		seen[l.Text]++
	}
	for text, n := range seen {
		if n > 1 {
			t.Errorf("posted %d times: %q", n, text)
		}
	}
	for _, want := range []string{"nooping on 2 hosts", "noop ready", "needs approval from statler", "approved by statler", "approved (1 change group)"} {
		found := false
		for text := range seen {
			found = found || strings.Contains(text, want)
		}
		if !found {
			t.Errorf("no line with %q in %v", want, seen)
		}
	}
}
