package credentials_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/balcony-dev/balcony/pkg/bus/bustest"
	"github.com/balcony-dev/balcony/pkg/chat"
	"github.com/balcony-dev/balcony/pkg/chatbridge"
	"github.com/balcony-dev/balcony/pkg/chatbridge/ircdtest"
	"github.com/balcony-dev/balcony/pkg/credentials"
	"github.com/balcony-dev/balcony/pkg/credentials/credtest"
	"github.com/balcony-dev/balcony/pkg/protocol"
)

// The chat bridge runs with its own credentials alone: its consumer on
// EVENTS, its bucket, and the service requests of its commands; it cannot
// announce.
func TestChatBridgeRunsWithItsCredentials(t *testing.T) {
	t.Parallel() // each its own bus; most of the time is waiting for a denial
	b := credtest.Start(t, spec, nil)
	irc := ircdtest.Start(t, "#ops")
	watcher := ircdtest.Connect(t, irc, "kermit", "#ops")
	conn := b.Connect(t, credentials.ChatBridge, "")
	for _, s := range credentials.Streams[credentials.ChatBridge] {
		if _, err := conn.JS.Stream(context.Background(), s); err != nil {
			t.Errorf("stream %s: %v", s, err)
		}
	}
	br, err := chatbridge.New(context.Background(), conn, chatbridge.Options{Log: zerolog.Nop(), Config: chatbridge.Config{
		Server: irc.Addr, Channels: []string{"#ops"}, Trust: chat.TrustStatic, People: chat.People{"kermit": {Nick: "kermit"}}, Coalesce: 10 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- br.Run(ctx) }()
	defer func() { cancel(); <-done }()
	bustest.Eventually(t, 0, "the bridge in #ops", func() bool { return watcher.Joined("balcony") })

	sha := strings.Repeat("ab", 20)
	if err := b.Nooper.Announce(context.Background(), "", protocol.Event{Type: "noop.started", Commit: sha, Data: map[string]any{"hosts": 1}}); err != nil {
		t.Fatal(err)
	}
	watcher.WaitLine(t, 0, "balcony", "the announcement", func(l ircdtest.Line) bool { return strings.HasPrefix(l.Text, "abababababab") })
	// Nobody answers, but the bridge may ask: the nooper's show, the
	// approver's status (before an approve) and the applier's status.
	for _, q := range []string{"status " + sha[:8], "approve " + sha[:8], "status fozzie.example.com"} {
		watcher.Say("balcony", q)
		watcher.WaitLine(t, 0, "balcony", "the answer to "+q, func(l ircdtest.Line) bool {
			return l.To == "kermit" && strings.Contains(l.Text, "is running")
		})
		watcher.Say("balcony", "help") // a marker: answers come in order
		watcher.WaitLine(t, 0, "balcony", "help", func(l ircdtest.Line) bool { return strings.HasPrefix(l.Text, "status <sha") })
	}
	noViolations(t, b)
	rctx, rcancel := context.WithTimeout(context.Background(), denied)
	defer rcancel()
	if err := conn.Announce(rctx, "", protocol.Event{Type: "approval.complete", Commit: sha}); err == nil {
		t.Error("the chat bridge announced an event")
	}
}
