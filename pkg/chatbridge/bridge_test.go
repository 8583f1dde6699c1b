package chatbridge_test

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/micro"
	"github.com/rs/zerolog"

	"github.com/balcony-dev/balcony/pkg/approver"
	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/bus/bustest"
	"github.com/balcony-dev/balcony/pkg/chat"
	"github.com/balcony-dev/balcony/pkg/chatbridge"
	"github.com/balcony-dev/balcony/pkg/chatbridge/ircdtest"
	"github.com/balcony-dev/balcony/pkg/delta"
	"github.com/balcony-dev/balcony/pkg/nooper"
	"github.com/balcony-dev/balcony/pkg/protocol"
	"github.com/balcony-dev/balcony/pkg/review"
)

const (
	sha1 = "1111111111111111111111111111111111111111"
	sha2 = "2222222222222222222222222222222222222222"
	sha3 = "3333333333333333333333333333333333333333"
)

// running is a bridge started by a test.
type running struct {
	cancel context.CancelFunc
	done   chan struct{} // closed when Run returned err
	err    error
}

// stop stops the bridge as SIGTERM would, and waits for it.
func (r *running) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	<-r.done
	if r.err != nil {
		t.Errorf("bridge: %v", r.err)
	}
}

func startBridge(t *testing.T, c *bus.Conn, irc *ircdtest.Server, cfg chatbridge.Config) *running {
	t.Helper()
	cfg.Server, cfg.Channels = irc.Addr, []string{"#ops"}
	if cfg.Coalesce == 0 {
		cfg.Coalesce = 100 * time.Millisecond
	}
	b, err := chatbridge.New(context.Background(), c, chatbridge.Options{Config: cfg, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan struct{})}
	go func() { r.err = b.Run(ctx); close(r.done) }()
	t.Cleanup(func() { cancel(); <-r.done })
	return r
}

// announce publishes ev on EVENTS and returns its stream sequence.
func announce(t *testing.T, c *bus.Conn, ev protocol.Event) uint64 {
	t.Helper()
	subject, err := bus.EventSubject(ev)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(ev)
	ack, err := c.JS.Publish(context.Background(), subject, data)
	if err != nil {
		t.Fatal(err)
	}
	return ack.Sequence
}

// Events become one line per type and commit, naming owners by nick;
// across a clean restart and a crash after a line was sent and recorded,
// nothing is posted twice and nothing is missed.
func TestAnnouncesOnceAcrossRestarts(t *testing.T) {
	c := bustest.Start(t)
	irc := ircdtest.Start(t, "#ops")
	watcher := ircdtest.Connect(t, irc, "watcher", "#ops")
	cfg := chatbridge.Config{Trust: chat.TrustStatic, People: chat.People{"kermit": {Nick: "Kermit_"}, "piggy": {Nick: "miss_piggy"}}}
	a := startBridge(t, c, irc, cfg)
	bustest.Eventually(t, 0, "the bridge in #ops", func() bool { return watcher.Joined("balcony") })

	announce(t, c, protocol.Event{Type: "noop.started", Commit: sha1, Text: `nooping 111111111111 "fix the motd" on 2 hosts`, Data: map[string]any{"hosts": 2}})
	for _, who := range []string{"kermit", "piggy"} {
		announce(t, c, protocol.Event{Type: "approval.needed", Commit: sha1, Data: map[string]any{
			"group": who, "owners": map[string]any{"file": map[string]any{"logins": []string{who}}}}})
	}
	announce(t, c, protocol.Event{Type: "run.queued", Host: "fozzie.example.com", Commit: sha1})
	watcher.WaitLine(t, 0, "balcony", "the approval line", func(l ircdtest.Line) bool {
		return strings.Contains(l.Text, "need approval")
	})
	a.stop(t)

	// While the bridge is down: a noop finishes, and an event whose line
	// a crashed bridge had sent and recorded but not acknowledged.
	announce(t, c, protocol.Event{Type: "noop.ready", Commit: sha1, Text: `noop of 111111111111 "fix the motd" ready: 2 changes`, Data: map[string]any{"groups": []string{"a", "b"}, "hosts": 2, "errors": 0}})
	seq := announce(t, c, protocol.Event{Type: "approval.complete", Commit: sha2, Data: map[string]any{"groups": 1}})
	kv, err := c.JS.KeyValue(context.Background(), chatbridge.Bucket)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(context.Background(), "posted."+itoa(seq), []byte("approval.complete")); err != nil {
		t.Fatal(err)
	}
	startBridge(t, c, irc, cfg)
	announce(t, c, protocol.Event{Type: "noop.started", Commit: sha3, Data: map[string]any{"hosts": 1}})
	watcher.WaitLine(t, 0, "balcony", "the last line", func(l ircdtest.Line) bool { return strings.HasPrefix(l.Text, "333333333333") })

	lines := watcher.Lines("balcony")
	var texts []string
	for _, l := range lines {
		texts = append(texts, l.Text)
		if l.To != "#ops" {
			t.Errorf("line to %s: %q", l.To, l.Text)
		}
	}
	want := []string{
		`111111111111 "fix the motd": nooping on 2 hosts`,
		`111111111111 "fix the motd": 2 change groups need approval from Kermit_, miss_piggy · approve 111111111111`,
		`111111111111 "fix the motd": noop ready: 2 change groups on 2 hosts · review: nooper show 111111111111`,
		`333333333333: nooping on 1 hosts`,
	}
	if strings.Join(texts, "\n") != strings.Join(want, "\n") {
		t.Errorf("lines:\n%s\nwant:\n%s", strings.Join(texts, "\n"), strings.Join(want, "\n"))
	}
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }

// fakeServices answers the nooper's show and the approver's status and
// approve for sha1, recording who approved.
func fakeServices(t *testing.T, c *bus.Conn) chan string {
	t.Helper()
	approvals := make(chan string, 4)
	doc := review.Document{Repo: "puppet", Branch: "main", Complete: true,
		Commit: protocol.Commit{SHA: sha1, Subject: "fix the motd", Author: "Kermit"},
		Result: &delta.Result{Commit: sha1, Hosts: []string{"fozzie.example.com"}, Groups: []delta.Group{{ID: "g1", Hosts: []string{"fozzie.example.com"}}}}}
	data, err := review.JSON(doc)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := micro.AddService(c.NC, micro.Config{Name: "fakes", Version: "0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Stop() })
	add := func(name, subject string, h func(micro.Request)) {
		if err := svc.AddEndpoint(name, micro.HandlerFunc(h), micro.WithEndpointSubject(subject)); err != nil {
			t.Fatal(err)
		}
	}
	add("show", nooper.ShowSubject, func(r micro.Request) {
		if !strings.HasPrefix(sha1, string(r.Data())) {
			_ = r.Error("404", "unknown commit", nil)
			return
		}
		_ = r.Respond(data)
	})
	approved := false
	add("status", approver.StatusSubject, func(r micro.Request) {
		_ = r.RespondJSON(approver.StatusReply{Commit: doc.Commit, Ready: true, Approved: approved,
			Groups: []approver.GroupView{{ID: "g1", Digest: "d1"}}})
	})
	add("approve", approver.ApprovePrefix+"*", func(r micro.Request) {
		var req approver.ApproveRequest
		if err := json.Unmarshal(r.Data(), &req); err != nil || req.Groups["g1"] != "d1" || req.Source != "chat" {
			_ = r.Error("400", "bad request", nil)
			return
		}
		approved = true
		approvals <- strings.TrimPrefix(r.Subject(), approver.ApprovePrefix)
		_ = r.RespondJSON(approver.ChangeReply{Commit: sha1, Approved: true, Message: "the commit is approved"})
	})
	return approvals
}

// Commands: status and show answer anyone; approve speaks for the login
// the nick maps to, and is refused to an unmapped nick.
func TestCommands(t *testing.T) {
	c := bustest.Start(t)
	approvals := fakeServices(t, bustest.Client(t, c))
	irc := ircdtest.Start(t, "#ops")
	watcher := ircdtest.Connect(t, irc, "watcher", "#ops")
	kermit := ircdtest.Connect(t, irc, "kermit", "#ops")
	startBridge(t, c, irc, chatbridge.Config{Trust: chat.TrustStatic, People: chat.People{"kermit": {Nick: "kermit"}}})
	bustest.Eventually(t, 0, "the bridge in #ops", func() bool { return watcher.Joined("balcony") })

	answer := func(who *ircdtest.Client, to, text, want string) string {
		t.Helper()
		who.Say(to, text)
		return who.WaitLine(t, 0, "balcony", "an answer to "+text, func(l ircdtest.Line) bool { return strings.Contains(l.Text, want) }).Text
	}
	if got := answer(watcher, "#ops", "balcony: status 111111", "noop ready"); !strings.HasPrefix(got, `watcher: 111111111111 "fix the motd": noop ready (1 change group on 1 host) → needs approval: 0 of 0`) &&
		!strings.Contains(got, "noop ready (1 change group on 1 host)") {
		t.Errorf("status: %q", got)
	}
	if got := answer(watcher, "#ops", "!show 111111", "the whole review"); !strings.Contains(got, "by Kermit") {
		t.Errorf("show: %q", got)
	}
	if got := answer(watcher, "#ops", "balcony: approve 111111", "refused"); !strings.Contains(got, "watcher is mapped to no login") {
		t.Errorf("approve from an unmapped nick: %q", got)
	}
	if got := answer(kermit, "#ops", "balcony, approve 111111", "approve as kermit"); !strings.Contains(got, "111111111111 is approved") {
		t.Errorf("approve from kermit: %q", got)
	}
	if who := <-approvals; who != "kermit" {
		t.Errorf("approved as %q", who)
	}
	select {
	case who := <-approvals:
		t.Errorf("a second approval, as %s", who)
	default:
	}
	if got := answer(watcher, "balcony", "help", "status <sha|host|rollout>"); !strings.Contains(got, "trust: static") {
		t.Errorf("help in private: %q", got)
	}
	if got := answer(watcher, "balcony", "status no.such.host", "no applier is running"); strings.HasPrefix(got, "watcher:") {
		t.Errorf("status of a host without an applier: %q", got)
	}
}
