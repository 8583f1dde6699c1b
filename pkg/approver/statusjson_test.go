package approver_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/balcony-dev/balcony/pkg/approver"
	"github.com/balcony-dev/balcony/pkg/delta"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestStatusJSON pins the shape of `approver status --json`
// (docs/approval-json.md): what the service answers and what the CLI
// prints after decoding it. Every list is [] when empty, never null, and
// owners keep their @ as CODEOWNERS writes them.
func TestStatusJSON(t *testing.T) {
	h := start(t)
	h.stopApprover()
	h.opts.Now = func() time.Time { return time.Date(2025, 3, 1, 12, 5, 0, 0, time.UTC) }
	h.startApprover()

	pending := commit("json pending")
	h.putNoop(pending, []delta.Group{siteGroup, motdGroup, concatGroup})
	h.approve(pending.SHA, "rowlf")  // owns nothing
	h.approve(pending.SHA, "beaker") // the author
	h.approve(pending.SHA, "kermit") // owns site.pp
	withdrawn := commit("json withdrawn")
	h.putNoopResult(withdrawn, []delta.Group{}, func(r *delta.Result) { r.Withdrawn = []delta.Group{motdGroup} })
	heldBack := commit("json held back")
	h.putNoopResult(heldBack, []delta.Group{}, func(r *delta.Result) {
		r.Hosts = []string{"statler.example.com", "waldorf.example.com"}
		r.Errors = []delta.ErrorGroup{{Message: "Syntax error", Hosts: []string{"statler.example.com"}}}
		r.Unanswered = []string{"waldorf.example.com"}
	})
	waiting := commit("json waiting")
	h.putNoop(waiting, nil)

	for _, tt := range []struct {
		name string
		sha  string
	}{
		{"status-pending.json", pending.SHA},
		{"status-withdrawn.json", withdrawn.SHA},
		{"status-held-back.json", heldBack.SHA},
		{"status-waiting.json", waiting.SHA},
	} {
		t.Run(tt.name, func(t *testing.T) {
			raw, code, desc := h.request(approver.StatusSubject, mustJSON(t, approver.StatusRequest{Revision: tt.sha}))
			if code != "" {
				t.Fatalf("status: %s %s", code, desc)
			}
			if bytes.Contains(raw, []byte("null")) {
				t.Errorf("the service's reply has a null:\n%s", raw)
			}
			var buf bytes.Buffer
			if err := h.status(tt.sha).WriteJSON(&buf); err != nil {
				t.Fatal(err)
			}
			got := buf.String()
			if strings.Contains(got, "null") {
				t.Errorf("the printed status has a null:\n%s", got)
			}
			var fields map[string]any
			if err := json.Unmarshal(raw, &fields); err != nil {
				t.Fatal(err)
			}
			for _, f := range []string{"commit", "ready", "approved", "groups", "withdrawn", "approvals", "status"} {
				if _, ok := fields[f]; !ok {
					t.Errorf("the reply has no field %q", f)
				}
			}
			goldenJSON(t, tt.name, got)
		})
	}
}

func goldenJSON(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (run with -update to create): %v", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s differs (-want +got):\n%s", path, diff)
	}
}

// TestApprovalJSONDocExample: the example of docs/approval-json.md is a
// status reply as the CLI prints it, field for field.
func TestApprovalJSONDocExample(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "approval-json.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "```json\n")
	example, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("docs/approval-json.md has no ```json example")
	}
	var st approver.StatusReply
	dec := json.NewDecoder(strings.NewReader(example))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&st); err != nil {
		t.Fatalf("the example is not a status reply: %v", err)
	}
	var buf bytes.Buffer
	if err := st.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(example, buf.String()); diff != "" {
		t.Errorf("the example is not what the CLI prints (-doc +printed):\n%s", diff)
	}
}
