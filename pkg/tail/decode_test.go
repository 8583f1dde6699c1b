package tail

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/protocol"
	"github.com/balcony-dev/balcony/pkg/report"
)

const sha = "0123456789abcdef0123456789abcdef01234567"

var at = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func commitEvent() protocol.CommitEvent {
	return protocol.CommitEvent{Schema: protocol.SchemaVersion, Repo: "puppet", Ref: "refs/heads/main", Branch: "main",
		New: sha, Commits: []protocol.Commit{{SHA: sha, Subject: "motd: greet", Author: "Ann", Time: at}}, Source: "hook", Time: at}
}

func runRequest() protocol.RunRequest {
	return protocol.RunRequest{Schema: protocol.SchemaVersion, ID: "noop-1", Kind: protocol.KindNoop, Host: "web1.example.com",
		Revision: sha, Deadline: at.Add(time.Hour), RequestedBy: "nooper", Time: at}
}

func runResult() protocol.RunResult {
	return protocol.RunResult{Schema: protocol.SchemaVersion, RunID: "noop-1", Kind: protocol.KindNoop, Host: "web1.example.com",
		Revision: sha, Outcome: protocol.OutcomeDone, StartedAt: at, FinishedAt: at, PuppetSeconds: 1.5,
		Report: &report.Report{Host: "web1.example.com", Noop: true, Time: at, Resources: []report.Resource{
			{ID: "File[/etc/motd]", Type: "File", Title: "/etc/motd", Diff: "-old\n+new\n"},
		}}}
}

func mustMsgpack(t *testing.T, v any) []byte {
	t.Helper()
	data, err := bus.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestDecode(t *testing.T) {
	event := protocol.Event{Type: "noop.ready", Text: "noop of 0123 ready", Time: at, Commit: sha, Data: map[string]any{"hosts": 3.0}}
	eventJSON := []byte(mustJSON(t, event))
	oldSchema := mustMsgpack(t, map[string]any{"schema": 0, "run_id": "x"})
	mpHeader := nats.Header{"Content-Type": {bus.ContentTypeMsgpack}}
	garbage := []byte{0xc1, 0x00, 0xff} // 0xc1 is never used in msgpack
	tests := []struct {
		name    string
		subject string
		header  nats.Header
		data    []byte
		typ     string
		payload string // JSON, compared as values; empty: none
		text    string
		base64  bool
		errHas  string
		kv      *KVEntry
	}{
		{name: "commit event", subject: "balcony.commit.puppet", header: mpHeader, data: mustMsgpack(t, commitEvent()),
			typ: "protocol.CommitEvent", payload: mustJSON(t, commitEvent())},
		{name: "run request", subject: "balcony.run.noop.web1.example.com", data: mustMsgpack(t, runRequest()),
			typ: "protocol.RunRequest", payload: mustJSON(t, runRequest())},
		{name: "run result with its report", subject: "balcony.report.noop.web1.example.com", data: mustMsgpack(t, runResult()),
			typ: "protocol.RunResult", payload: mustJSON(t, runResult())},
		{name: "github comment", subject: "balcony.github.comment",
			data: mustMsgpack(t, protocol.GitHubComment{Schema: 1, Repo: "o/r", Issue: 4, Login: "ann", Body: "approve", Time: at}),
			typ:  "protocol.GitHubComment", payload: mustJSON(t, protocol.GitHubComment{Schema: 1, Repo: "o/r", Issue: 4, Login: "ann", Body: "approve", Time: at})},
		{name: "event is JSON as it is", subject: "balcony.event.noop.ready", data: eventJSON, typ: "json", payload: string(eventJSON)},
		{name: "event that is not JSON", subject: "balcony.event.noop.ready", data: []byte("{half"),
			typ: "bytes", base64: true, errHas: "not JSON"},
		{name: "report of another schema is shown generically with why", subject: "balcony.report.noop.web1", data: oldSchema,
			typ: "msgpack", payload: `{"schema":0,"run_id":"x"}`, errHas: "schema version 0"},
		{name: "report that is not msgpack", subject: "balcony.report.noop.web1", data: garbage,
			typ: "bytes", base64: true, errHas: "not a protocol.RunResult"},
		{name: "kv value decoded generically", subject: "$KV.hosts.web1.example.com",
			data: mustMsgpack(t, protocol.HostInfo{Schema: 1, Host: "web1.example.com", Version: "v1", Started: at, Seen: at}),
			typ:  "msgpack", payload: `{"schema":1,"host":"web1.example.com","version":"v1","started":"2026-12-01T10:00:00Z","seen":"2026-12-01T10:00:00Z","last_applied":"","applied_at":"0001-01-01T00:00:00Z","applied_run":"","busy":"","puppet_disabled":""}`,
			kv: &KVEntry{Bucket: "hosts", Key: "web1.example.com", Op: "PUT"}},
		{name: "kv delete", subject: "$KV.approvals." + sha, header: nats.Header{"KV-Operation": {"DEL"}},
			typ: "empty", kv: &KVEntry{Bucket: "approvals", Key: sha, Op: "DEL"}},
		{name: "kv value that is not msgpack", subject: "$KV.noops." + sha, data: garbage,
			typ: "bytes", base64: true, errHas: "not msgpack", kv: &KVEntry{Bucket: "noops", Key: sha, Op: "PUT"}},
		{name: "msgpack with non-string keys", subject: "$KV.rollout.state", data: mustMsgpack(t, map[int]string{1: "a"}),
			typ: "msgpack", payload: `{"1":"a"}`, kv: &KVEntry{Bucket: "rollout", Key: "state", Op: "PUT"}},
		{name: "trailing bytes are not one value", subject: "$KV.rollout.state", data: append(mustMsgpack(t, 1), 1),
			typ: "bytes", base64: true, errHas: "after the msgpack value", kv: &KVEntry{Bucket: "rollout", Key: "state", Op: "PUT"}},
		{name: "request as text", subject: "balcony.nooper.show", data: []byte(sha), typ: "text", text: sha},
		{name: "reply as JSON", subject: "_INBOX.x.y", data: []byte(`{"a": 1}`), typ: "json", payload: `{"a":1}`},
		{name: "msgpack by content type", subject: "balcony.approver.status", header: mpHeader, data: mustMsgpack(t, map[string]any{"ok": true}),
			typ: "msgpack", payload: `{"ok":true}`},
		{name: "binary of no known kind", subject: "balcony.x", data: garbage, typ: "bytes", base64: true, errHas: "not msgpack"},
		{name: "object chunk", subject: "$O.noop_results.C.abc", data: garbage, typ: "object-chunk", base64: true},
		{name: "empty", subject: "balcony.commit.puppet", typ: "empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Record
			Decode(&r, tt.subject, tt.header, tt.data)
			if r.Type != tt.typ {
				t.Errorf("type %q, want %q (error %q)", r.Type, tt.typ, r.Error)
			}
			if tt.payload != "" {
				if !sameJSON(t, string(r.Payload), tt.payload) {
					t.Errorf("payload\n%s\nwant\n%s", r.Payload, tt.payload)
				}
			} else if r.Payload != nil {
				t.Errorf("payload %s, want none", r.Payload)
			}
			if got := deref(r.Text); got != tt.text {
				t.Errorf("text %q, want %q", got, tt.text)
			}
			if tt.base64 {
				got, err := base64.StdEncoding.DecodeString(r.Base64)
				if err != nil || string(got) != string(tt.data) {
					t.Errorf("base64 %q is not the payload", r.Base64)
				}
			} else if r.Base64 != "" {
				t.Errorf("base64 %q, want none", r.Base64)
			}
			if tt.errHas == "" && r.Error != "" || !strings.Contains(r.Error, tt.errHas) {
				t.Errorf("error %q, want one with %q", r.Error, tt.errHas)
			}
			if (r.KV == nil) != (tt.kv == nil) || r.KV != nil && *r.KV != *tt.kv {
				t.Errorf("kv %+v, want %+v", r.KV, tt.kv)
			}
			// Whatever came in, the record prints.
			if _, err := json.Marshal(r); err != nil {
				t.Errorf("record does not print: %v", err)
			}
		})
	}
}

func TestJSONableFloats(t *testing.T) {
	var r Record
	nan := []byte{0xcb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 1} // float64 NaN
	Decode(&r, "$KV.x.y", nil, nan)
	if r.Type != "msgpack" || string(r.Payload) != `"NaN"` {
		t.Errorf("NaN: type %q payload %s error %q", r.Type, r.Payload, r.Error)
	}
}

func sameJSON(t *testing.T, a, b string) bool {
	t.Helper()
	var va, vb any
	if err := json.Unmarshal([]byte(a), &va); err != nil {
		t.Fatalf("%s: %v", a, err)
	}
	if err := json.Unmarshal([]byte(b), &vb); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return mustJSON(t, va) == mustJSON(t, vb)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func TestStreamFor(t *testing.T) {
	decl := &bus.Declaration{
		Streams: []bus.StreamDecl{{Name: "RUNS", Subjects: []string{"balcony.run.>"}}, {Name: "EVENTS", Subjects: []string{"balcony.event.>"}}},
		KV:      []bus.KVDecl{{Bucket: "hosts"}},
		Objects: []bus.ObjectDecl{{Bucket: "noop_results"}},
	}
	tests := []struct {
		filter, stream string
		spans          bool
	}{
		{"balcony.run.noop.web1.example.com", "RUNS", false},
		{"balcony.run.*.web1", "RUNS", false},
		{"balcony.run.>", "RUNS", false},
		{"balcony.event.noop.ready", "EVENTS", false},
		{"$KV.hosts.web1.example.com", "KV_hosts", false},
		{"$KV.hosts.>", "KV_hosts", false},
		{"$O.noop_results.M.x", "OBJ_noop_results", false},
		{"balcony.nooper.show", "", false},
		{"balcony.run", "", false},
		{"balcony.>", "", true},
		{"balcony.*.noop.web1", "", true},
		{">", "", true},
	}
	for _, tt := range tests {
		got, err := StreamFor(decl, tt.filter)
		if got != tt.stream || (err != nil) != tt.spans {
			t.Errorf("StreamFor(%q) = %q, %v; want %q, spans %v", tt.filter, got, err, tt.stream, tt.spans)
		}
	}
}
