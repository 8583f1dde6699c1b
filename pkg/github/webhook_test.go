package github

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

func TestVerify(t *testing.T) {
	secret := []byte("wocka wocka")
	payload, err := os.ReadFile("testdata/push.json")
	if err != nil {
		t.Fatal(err)
	}
	form := []byte("payload=" + url.QueryEscape(string(payload)))
	big := bytes.Repeat([]byte(" "), MaxWebhookBody+1)
	tests := []struct {
		name        string
		body        []byte
		contentType string
		headers     map[string]string
		secret      []byte
		wantErr     error // nil: accepted
	}{
		{"right signature", payload, "application/json", map[string]string{"X-Hub-Signature-256": sign(secret, payload)}, secret, nil},
		{"form delivery", form, "application/x-www-form-urlencoded", map[string]string{"X-Hub-Signature-256": sign(secret, form)}, secret, nil},
		{"wrong signature", payload, "application/json", map[string]string{"X-Hub-Signature-256": sign([]byte("other"), payload)}, secret, ErrSignature},
		{"missing signature", payload, "application/json", nil, secret, ErrSignature},
		{"sha1 only", payload, "application/json", map[string]string{"X-Hub-Signature": "sha1=0123"}, secret, ErrSignature},
		{"sha1 in the sha256 header", payload, "application/json", map[string]string{"X-Hub-Signature-256": "sha1=0123"}, secret, ErrSignature},
		{"no secret configured", payload, "application/json", map[string]string{"X-Hub-Signature-256": sign(nil, payload)}, nil, ErrSignature},
		{"body over 25 MiB", big, "application/json", map[string]string{"X-Hub-Signature-256": sign(secret, big)}, secret, ErrSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/hook", bytes.NewReader(tt.body))
			r.Header.Set("Content-Type", tt.contentType)
			r.Header.Set("X-GitHub-Event", "push")
			for k, v := range tt.headers {
				r.Header.Set(k, v)
			}
			event, got, err := Verify(r, tt.secret)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if event != "push" || !bytes.Equal(got, payload) {
				t.Errorf("event %q, payload %d bytes; want push, %d bytes", event, len(got), len(payload))
			}
		})
	}
}

func TestParsePush(t *testing.T) {
	payload, err := os.ReadFile("testdata/push.json")
	if err != nil {
		t.Fatal(err)
	}
	ref, before, after, repoName, err := ParsePush(payload)
	if err != nil {
		t.Fatal(err)
	}
	got := []string{ref, before, after, repoName}
	want := []string{"refs/heads/main", other, sha, "muppets/puppet"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("push (-want +got):\n%s", diff)
	}
	for _, bad := range []string{"", "{", `{"ref":"refs/heads/main"}`} {
		if _, _, _, _, err := ParsePush([]byte(bad)); err == nil {
			t.Errorf("ParsePush(%q): no error", bad)
		}
	}
}

func TestParseIssueComment(t *testing.T) {
	payload, err := os.ReadFile("testdata/issue_comment.json")
	if err != nil {
		t.Fatal(err)
	}
	c, action, body, repoName, err := ParseIssueComment(payload)
	if err != nil {
		t.Fatal(err)
	}
	want := Comment{ID: 555001, Issue: 17, Login: "statler", Body: "Approved! for statler.example.com", CreatedAt: time.Date(2026, 11, 26, 7, 5, 0, 0, time.UTC)}
	if diff := cmp.Diff(want, c); diff != "" {
		t.Errorf("comment (-want +got):\n%s", diff)
	}
	if action != "created" || repoName != "muppets/puppet" {
		t.Errorf("action %q, repo %q", action, repoName)
	}
	if got, ok := CommitOf(body); !ok || got != sha || !IsApproval(c.Body) {
		t.Errorf("CommitOf(issue body) = %q, %v; IsApproval = %v", got, ok, IsApproval(c.Body))
	}
	for _, bad := range []string{"", "[]", `{"action":"created"}`, strings.Replace(string(payload), `"comment"`, `"kommentar"`, 1)} {
		if _, _, _, _, err := ParseIssueComment([]byte(bad)); err == nil {
			t.Errorf("ParseIssueComment(%.30q): no error", bad)
		}
	}
}
