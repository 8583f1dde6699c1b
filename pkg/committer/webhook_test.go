package committer_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/rs/zerolog"

	"github.com/balcony-dev/balcony/pkg/committer"
	"github.com/balcony-dev/balcony/pkg/gitrepo/gittest"
	"github.com/balcony-dev/balcony/pkg/protocol"
)

const (
	webhookRepo = "muppets/puppet"
	balconySHA  = "0123456789abcdef0123456789abcdef01234567"
)

var webhookSecret = []byte("wocka wocka")

// fakeComments records the comments published.
type fakeComments struct {
	mu       sync.Mutex
	comments []protocol.GitHubComment
}

func (p *fakeComments) PublishComment(ctx context.Context, c protocol.GitHubComment) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.comments = append(p.comments, c)
	return nil
}

func (p *fakeComments) take() []protocol.GitHubComment {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.comments
	p.comments = nil
	return c
}

// webhookSite is a Webhook on a test server, its Committer publishing
// from the fixture's bare repository.
type webhookSite struct {
	srv      *httptest.Server
	f        *gittest.Fixture
	events   *fakePublisher
	comments *fakeComments

	mu      sync.Mutex
	fetches int
}

func newWebhookSite(t *testing.T) *webhookSite {
	t.Helper()
	s := &webhookSite{f: gittest.New(t), events: &fakePublisher{}, comments: &fakeComments{}}
	c, err := committer.New(committer.Options{
		RepoName: "puppet", RepoPath: s.f.Bare, Source: committer.SourceWebhook,
		Log: zerolog.New(zerolog.NewTestWriter(t)), Now: func() time.Time { return now },
	}, s.events)
	if err != nil {
		t.Fatal(err)
	}
	s.srv = httptest.NewServer(&committer.Webhook{
		Secret: webhookSecret, Repo: webhookRepo, Committer: c, Comments: s.comments,
		Fetch: func(context.Context) error {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.fetches++
			return nil
		},
		Log: zerolog.New(zerolog.NewTestWriter(t)),
	})
	t.Cleanup(s.srv.Close)
	return s
}

func (s *webhookSite) fetched() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fetches
}

// signature is GitHub's X-Hub-Signature-256 of body under secret.
func signature(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// deliver posts a delivery of event with body, signed with sig (the
// header is left out when sig is empty), and returns the status.
func (s *webhookSite) deliver(t *testing.T, event string, body []byte, sig string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.srv.URL, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", event)
	req.Header.Set("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958")
	if sig != "" {
		req.Header.Set("X-Hub-Signature-256", sig)
	}
	resp, err := s.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func pushPayload(t *testing.T, repo, before, after string) []byte {
	t.Helper()
	return mustMarshal(t, map[string]any{
		"ref": "refs/heads/main", "before": before, "after": after,
		"repository": map[string]any{"full_name": repo, "name": "puppet", "owner": map[string]any{"login": "muppets"}},
		"pusher":     map[string]any{"name": "gonzo"},
	})
}

func commentPayload(t *testing.T, repo, issueBody string) []byte {
	t.Helper()
	return mustMarshal(t, map[string]any{
		"action": "created",
		"issue":  map[string]any{"number": 17, "title": "balcony: review", "body": issueBody},
		"comment": map[string]any{
			"id": 555001, "body": "Approved! for statler.example.com",
			"user": map[string]any{"login": "Statler"}, "created_at": "2026-11-26T07:05:00Z",
		},
		"repository": map[string]any{"full_name": repo},
	})
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// pushCommits commits A, B and C and pushes them; it returns A and C.
// The same calls on another fixture give the same shas.
func pushCommits(f *gittest.Fixture) (a, c string) {
	a = f.Commit("A", map[string]string{"manifests/site.pp": "a"})
	f.Commit("B", map[string]string{"manifests/site.pp": "b"})
	c = f.Commit("C", map[string]string{"modules/motd/manifests/init.pp": "class motd {}"})
	f.Push("main")
	return a, c
}

// TestWebhookPushMatchesHook delivers a push and handles the same update
// through the hook path on an identical repository: the events are the
// same but for Source and Time.
func TestWebhookPushMatchesHook(t *testing.T) {
	hookFixture := gittest.New(t)
	hookEvents := &fakePublisher{}
	hook := newCommitter(t, hookFixture, hookEvents)
	a, b := pushCommits(hookFixture)
	if _, err := hook.HandleUpdates(context.Background(), []committer.RefUpdate{{Old: a, New: b, Ref: "refs/heads/main"}}); err != nil {
		t.Fatal(err)
	}
	want := hookEvents.take()

	s := newWebhookSite(t)
	if a2, b2 := pushCommits(s.f); a2 != a || b2 != b {
		t.Fatalf("fixtures differ: %s..%s and %s..%s", a, b, a2, b2)
	}
	body := pushPayload(t, webhookRepo, a, b)
	if got := s.deliver(t, "push", body, signature(webhookSecret, body)); got != http.StatusAccepted {
		t.Fatalf("push delivery: status %d, want %d", got, http.StatusAccepted)
	}
	got := s.events.take()
	if len(want) != 1 || len(want[0].Commits) != 2 {
		t.Fatalf("hook events %+v, want one with B and C", want)
	}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(protocol.CommitEvent{}, "Source", "Time")); diff != "" {
		t.Errorf("webhook event (-hook +webhook):\n%s", diff)
	}
	if got[0].Source != committer.SourceWebhook {
		t.Errorf("source %q, want %q", got[0].Source, committer.SourceWebhook)
	}
	if s.fetched() != 1 {
		t.Errorf("mirror fetched %d times, want once before the push was handled", s.fetched())
	}

	// The same delivery again (GitHub redelivers) publishes nothing new.
	if got := s.deliver(t, "push", body, signature(webhookSecret, body)); got != http.StatusAccepted {
		t.Errorf("redelivery: status %d", got)
	}
	if evs := s.events.take(); len(evs) != 0 {
		t.Errorf("redelivery published %+v", evs)
	}
}

func TestWebhookDeliveries(t *testing.T) {
	marker := "<!-- balcony:commit:" + balconySHA + " -->\n# Noop of 0123456789"
	signed := func(body []byte) string { return signature(webhookSecret, body) }
	tests := []struct {
		name       string
		event      string
		body       func(t *testing.T, before, after string) []byte
		sign       func(body []byte) string // nil: no signature header
		wantStatus int
		wantEvents int
		wantFetch  int
		wantNotes  []protocol.GitHubComment
	}{
		{
			name: "push without signature", event: "push",
			body:       func(t *testing.T, a, b string) []byte { return pushPayload(t, webhookRepo, a, b) },
			wantStatus: http.StatusUnauthorized,
		},
		{
			name: "push with a wrong signature", event: "push",
			body:       func(t *testing.T, a, b string) []byte { return pushPayload(t, webhookRepo, a, b) },
			sign:       func(body []byte) string { return signature([]byte("not the secret"), body) },
			wantStatus: http.StatusUnauthorized,
		},
		{
			name: "push signed for another body", event: "push",
			body: func(t *testing.T, a, b string) []byte { return pushPayload(t, webhookRepo, a, b) },
			sign: func([]byte) string {
				return signature(webhookSecret, []byte(`{"ref":"refs/heads/main"}`))
			},
			wantStatus: http.StatusUnauthorized,
		},
		{
			name: "push to another repository", event: "push",
			body:       func(t *testing.T, a, b string) []byte { return pushPayload(t, "muppets/other", a, b) },
			sign:       signed,
			wantStatus: http.StatusUnprocessableEntity,
		},
		{
			name: "push", event: "push",
			body:       func(t *testing.T, a, b string) []byte { return pushPayload(t, webhookRepo, a, b) },
			sign:       signed,
			wantStatus: http.StatusAccepted, wantEvents: 1, wantFetch: 1,
		},
		{
			name: "comment on a balcony issue", event: "issue_comment",
			body:       func(t *testing.T, _, _ string) []byte { return commentPayload(t, webhookRepo, marker) },
			sign:       signed,
			wantStatus: http.StatusAccepted,
			wantNotes: []protocol.GitHubComment{{
				Schema: protocol.SchemaVersion, Repo: webhookRepo, Issue: 17, IssueBody: marker,
				CommentID: 555001, Action: "created", Login: "statler", Body: "Approved! for statler.example.com",
				Time: time.Date(2026, 11, 26, 7, 5, 0, 0, time.UTC),
			}},
		},
		{
			name: "comment on a balcony issue, unsigned", event: "issue_comment",
			body:       func(t *testing.T, _, _ string) []byte { return commentPayload(t, webhookRepo, marker) },
			wantStatus: http.StatusUnauthorized,
		},
		{
			name: "comment on another issue", event: "issue_comment",
			body: func(t *testing.T, _, _ string) []byte {
				return commentPayload(t, webhookRepo, "approved please\n"+marker)
			},
			sign:       signed,
			wantStatus: http.StatusOK,
		},
		{
			name: "comment in another repository", event: "issue_comment",
			body:       func(t *testing.T, _, _ string) []byte { return commentPayload(t, "muppets/other", marker) },
			sign:       signed,
			wantStatus: http.StatusUnprocessableEntity,
		},
		{
			name: "ping", event: "ping",
			body: func(t *testing.T, _, _ string) []byte {
				return []byte(`{"zen":"Keep it logically awesome.","hook_id":1}`)
			},
			sign:       signed,
			wantStatus: http.StatusOK,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newWebhookSite(t)
			a, b := pushCommits(s.f)
			body := tt.body(t, a, b)
			sig := ""
			if tt.sign != nil {
				sig = tt.sign(body)
			}
			if got := s.deliver(t, tt.event, body, sig); got != tt.wantStatus {
				t.Errorf("status %d, want %d", got, tt.wantStatus)
			}
			if evs := s.events.take(); len(evs) != tt.wantEvents {
				t.Errorf("%d commit events published, want %d: %+v", len(evs), tt.wantEvents, evs)
			}
			if diff := cmp.Diff(tt.wantNotes, s.comments.take()); diff != "" {
				t.Errorf("comments published (-want +got):\n%s", diff)
			}
			if s.fetched() != tt.wantFetch {
				t.Errorf("mirror fetched %d times, want %d", s.fetched(), tt.wantFetch)
			}
		})
	}
}
