package chat_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/balcony-dev/balcony/pkg/chat"
	"github.com/balcony-dev/balcony/pkg/protocol"
)

const sha = "0123456789abcdef0123456789abcdef01234567"

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		private    bool
		want       chat.Command
		err        error
		errText    string
	}{
		{name: "addressed with a colon", text: "balcony: status 0123abcd", want: chat.Command{Verb: "status", Target: "0123abcd"}},
		{name: "addressed with a comma, nick case folded", text: "Balcony, STATUS fozzie.example.com", want: chat.Command{Verb: "status", Target: "fozzie.example.com"}},
		{name: "bang", text: "!show 0123ABCD", want: chat.Command{Verb: "show", Target: "0123abcd"}},
		{name: "private needs no address", text: "approve 0123abcd g1 g2", private: true, want: chat.Command{Verb: "approve", Target: "0123abcd", Groups: []string{"g1", "g2"}}},
		{name: "revoke", text: "balcony: revoke 0123abcd", want: chat.Command{Verb: "revoke", Target: "0123abcd"}},
		{name: "help", text: "help", private: true, want: chat.Command{Verb: "help"}},
		{name: "channel chatter", text: "status of the build?", err: chat.ErrNotForUs},
		{name: "another nick's prefix", text: "balconyfan: status x", err: chat.ErrNotForUs},
		{name: "unknown verb", text: "balcony: deploy", err: chat.ErrUsage, errText: `unknown command "deploy"`},
		{name: "approve without a sha", text: "balcony: approve main", err: chat.ErrUsage, errText: "approve <sha>"},
		{name: "too short a sha", text: "!show abc", err: chat.ErrUsage},
		{name: "status without a target", text: "!status", err: chat.ErrUsage},
		{name: "empty", text: "balcony:", err: chat.ErrUsage},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := chat.Parse(tc.text, "balcony", tc.private)
			if tc.err != nil {
				if !errors.Is(err, tc.err) || !strings.Contains(err.Error(), tc.errText) {
					t.Fatalf("error %v, want %v with %q", err, tc.err, tc.errText)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Error(d)
			}
		})
	}
}

func TestLogin(t *testing.T) {
	people := chat.People{
		"kermit": {Nick: "Kermit[frog]"},
		"piggy":  {Nick: "piggy", Account: "MissPiggy"},
	}
	for _, tc := range []struct {
		name, mode string
		s          chat.Speaker
		want       string
		errText    string
	}{
		{name: "static: mapped nick, RFC 1459 case", mode: chat.TrustStatic, s: chat.Speaker{Nick: "kermit{FROG}"}, want: "kermit"},
		{name: "static: unmapped nick", mode: chat.TrustStatic, s: chat.Speaker{Nick: "gonzo"}, errText: "the nick gonzo is mapped to no login"},
		{name: "static ignores accounts", mode: chat.TrustStatic, s: chat.Speaker{Nick: "gonzo", Account: "MissPiggy", AccountKnown: true}, errText: "mapped to no login"},
		{name: "account: mapped account", mode: chat.TrustAccount, s: chat.Speaker{Nick: "gonzo", Account: "misspiggy", AccountKnown: true}, want: "piggy"},
		{name: "account defaults to the nick", mode: chat.TrustAccount, s: chat.Speaker{Nick: "x", Account: "Kermit[frog]", AccountKnown: true}, want: "kermit"},
		{name: "account: the nick alone is not enough", mode: chat.TrustAccount, s: chat.Speaker{Nick: "piggy", AccountKnown: true}, errText: "piggy is not logged in to services"},
		{name: "account: server without accounts", mode: chat.TrustAccount, s: chat.Speaker{Nick: "piggy"}, errText: "does not tell piggy's services account"},
		{name: "account: unmapped account", mode: chat.TrustAccount, s: chat.Speaker{Nick: "piggy", Account: "piggy", AccountKnown: true}, errText: "the account piggy is mapped to no login"},
		{name: "unknown mode", mode: "trusting", s: chat.Speaker{Nick: "piggy"}, errText: "unknown trust mode"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := people.Login(tc.mode, tc.s)
			if tc.errText != "" {
				if !errors.Is(err, chat.ErrUntrusted) || !strings.Contains(err.Error(), tc.errText) {
					t.Fatalf("error %v, want one with %q", err, tc.errText)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func ev(typ string, data map[string]any) protocol.Event {
	return protocol.Event{Type: typ, Commit: sha, Data: data}
}

func TestFormat(t *testing.T) {
	people := chat.People{"kermit": {Nick: "Kermit_"}}
	for _, tc := range []struct {
		name   string
		events []protocol.Event
		want   string
	}{
		{"noop started", []protocol.Event{ev("noop.started", map[string]any{"hosts": 3.0})}, `0123456789ab "fix": nooping on 3 hosts`},
		{"re-noop", []protocol.Event{ev("noop.started", map[string]any{"hosts": 3.0, "generation": 1.0})}, `0123456789ab "fix": re-nooping on 3 hosts`},
		{"progress", []protocol.Event{ev("noop.progress", map[string]any{"answered": 1.0, "hosts": 3.0}), ev("noop.progress", map[string]any{"answered": 2.0, "hosts": 3.0, "missing": []any{"waldorf"}})},
			`0123456789ab "fix": noop: 2 of 3 hosts answered; waiting for waldorf`},
		{"ready with errors", []protocol.Event{ev("noop.ready", map[string]any{"groups": []any{"g1"}, "hosts": 3.0, "errors": 1.0, "unanswered": []any{"waldorf"}})},
			`0123456789ab "fix": noop ready: 1 change group on 3 hosts, 1 error, unanswered: waldorf · review: nooper show 0123456789ab`},
		{"approval needed, two groups, owners as nicks", []protocol.Event{
			ev("approval.needed", map[string]any{"owners": map[string]any{"file": map[string]any{"logins": []any{"kermit"}}, "nodes": []any{map[string]any{"logins": []any{"statler"}}}}}),
			ev("approval.needed", map[string]any{"owners": map[string]any{"module": map[string]any{"logins": []any{"kermit"}}}}),
		}, `0123456789ab "fix": 2 change groups need approval from Kermit_, statler · approve 0123456789ab`},
		{"approval needed, nobody to ask", []protocol.Event{ev("approval.needed", map[string]any{"missing": "an admin"})}, `0123456789ab "fix": 1 change group needs approval: an admin`},
		{"granted", []protocol.Event{ev("approval.granted", map[string]any{"by": []any{"kermit"}})}, `0123456789ab "fix": 1 change group approved by Kermit_`},
		{"lapsed", []protocol.Event{ev("approval.lapsed", map[string]any{"lapsed": []any{"kermit"}})}, `0123456789ab "fix": approval of 1 change group by Kermit_ lapsed: the change is not what was approved`},
		{"complete", []protocol.Event{ev("approval.complete", map[string]any{"groups": 2.0})}, `0123456789ab "fix": approved (2 change groups)`},
		{"apply started", []protocol.Event{ev("apply.started", map[string]any{"commits": 2.0, "hosts": 5.0, "rollout": "r1"})}, `0123456789ab "fix": apply started: 2 commits, 5 hosts (rollout r1)`},
		{"sets done", []protocol.Event{ev("apply.set.done", map[string]any{"set": "canary"}), ev("apply.set.done", map[string]any{"set": "rest", "counts": map[string]any{"done": 4.0, "failed": 1.0}})},
			`0123456789ab "fix": apply: set canary, rest done (done 4, failed 1)`},
		{"hosts failed", []protocol.Event{{Type: "apply.host.failed", Commit: sha, Host: "a"}, {Type: "apply.host.failed", Commit: sha, Host: "b", Data: map[string]any{"reason": "compile error"}}},
			`0123456789ab "fix": apply failed on a, b: compile error`},
		{"halted", []protocol.Event{ev("apply.halted", map[string]any{"reason": "set canary: 1 failed of 1 allowed 0"})}, `0123456789ab "fix": apply HALTED: set canary: 1 failed of 1 allowed 0`},
		{"cancelled", []protocol.Event{ev("apply.cancelled", map[string]any{"by": "kermit"})}, `0123456789ab "fix": apply cancelled by Kermit_`},
		{"complete apply", []protocol.Event{ev("apply.complete", map[string]any{"counts": map[string]any{"done": 5.0}})}, `0123456789ab "fix": apply complete (done 5)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := &chat.Batch{Type: tc.events[0].Type, Commit: sha}
			for i, e := range tc.events {
				b.Items = append(b.Items, chat.Item{Seq: uint64(i + 1), Event: e})
			}
			if got := chat.Format(b, "fix", people); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
	long := &chat.Batch{Type: "approval.revoked", Commit: sha, Items: []chat.Item{{Event: protocol.Event{Type: "approval.revoked", Text: strings.Repeat("é", 400)}}}}
	if got := chat.Format(long, "", nil); len(got) > chat.MaxLine || !strings.HasSuffix(got, "…") || !strings.HasPrefix(got, "0123456789ab: approval withdrawn: é") {
		t.Errorf("a long line: %d bytes: %q", len(got), got)
	}
}

func TestSubjectOf(t *testing.T) {
	for text, want := range map[string]string{
		`nooping 0123456789ab "fix \"it\"" on 3 hosts`:       `fix "it"`,
		`noop of 0123456789ab "motd: go on" ready: 1 change`: "motd: go on",
		`0123456789ab: kermit approved`:                      "",
	} {
		got, ok := chat.SubjectOf(protocol.Event{Commit: sha, Text: text})
		if got != want || ok != (want != "") {
			t.Errorf("%s: got %q %v", text, got, ok)
		}
	}
}

func TestCoalescer(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := chat.NewCoalescer(2*time.Second, 10*time.Second)
	add := func(seq uint64, typ string, at time.Duration) []uint64 {
		var done []uint64
		for _, it := range c.Add(chat.Item{Seq: seq, Event: protocol.Event{Type: typ, Commit: sha}}, t0.Add(at)) {
			done = append(done, it.Seq)
		}
		return done
	}
	due := func(at time.Duration) []string {
		var out []string
		for _, b := range c.Due(t0.Add(at)) {
			s := b.Type + ":"
			for _, it := range b.Items {
				s += " " + string(rune('0'+it.Seq))
			}
			out = append(out, s)
			c.Sent(b, t0.Add(at))
		}
		return out
	}
	if d := add(1, "run.queued", 0); !cmp.Equal(d, []uint64{1}) {
		t.Errorf("a skipped type is done at once: %v", d)
	}
	add(2, "noop.started", 0)
	add(3, "noop.progress", 0)
	add(4, "approval.needed", time.Second)
	add(5, "approval.needed", time.Second)
	if next, ok := c.Next(); !ok || !next.Equal(t0.Add(2*time.Second)) {
		t.Errorf("next %v %v", next, ok)
	}
	if got := due(time.Second); len(got) != 0 {
		t.Errorf("due before the window: %v", got)
	}
	if got, want := due(2*time.Second), []string{"noop.started: 2", "noop.progress: 3"}; !cmp.Equal(got, want) {
		t.Errorf("due at 2s: %v, want %v", got, want)
	}
	if got, want := due(3*time.Second), []string{"approval.needed: 4 5"}; !cmp.Equal(got, want) {
		t.Errorf("due at 3s: %v, want %v", got, want)
	}
	// Progress waits for ProgressEvery after the last progress line.
	add(6, "noop.progress", 4*time.Second)
	add(7, "noop.progress", 5*time.Second)
	if got := due(6 * time.Second); len(got) != 0 {
		t.Errorf("progress before its pace: %v", got)
	}
	// A finished noop makes the progress waiting moot.
	if d := add(8, "noop.ready", 7*time.Second); !cmp.Equal(d, []uint64{6, 7}) {
		t.Errorf("progress dropped by noop.ready: %v", d)
	}
	add(9, "apply.started", 7*time.Second)
	if c.Pending() != 2 {
		t.Errorf("pending %d", c.Pending())
	}
	var flushed []string
	for _, b := range c.Flush() {
		flushed = append(flushed, b.Type)
	}
	if want := []string{"noop.ready", "apply.started"}; !cmp.Equal(flushed, want) {
		t.Errorf("flushed %v, want %v", flushed, want)
	}
	if _, ok := c.Next(); ok || c.Pending() != 0 {
		t.Error("something left after Flush")
	}
}
