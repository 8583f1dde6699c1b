package committer_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/bus/bustest"
	"github.com/balcony-dev/balcony/pkg/committer"
	"github.com/balcony-dev/balcony/pkg/delta"
	"github.com/balcony-dev/balcony/pkg/gitrepo/gittest"
	"github.com/balcony-dev/balcony/pkg/nooper"
	"github.com/balcony-dev/balcony/pkg/protocol"
	"github.com/balcony-dev/balcony/pkg/review"
)

const triggerToken = "s3cret-ci-token"

// fakeNooper stands for the nooper's service: the noops it knows, by
// full sha, and the re-noops asked. A re-noop of a noop still running is
// refused as the nooper refuses it.
type fakeNooper struct {
	mu      sync.Mutex
	noops   map[string]*review.Document
	renoops []string
}

func (n *fakeNooper) Show(_ context.Context, rev string) (review.Document, []byte, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	doc, ok := n.noops[rev]
	if !ok {
		return review.Document{}, nil, fmt.Errorf("%w: %s", nooper.ErrUnknownCommit, rev)
	}
	return *doc, nil, nil
}

func (n *fakeNooper) Renoop(_ context.Context, rev string) (string, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	doc, ok := n.noops[rev]
	switch {
	case !ok:
		return "", fmt.Errorf("%w: %s", nooper.ErrUnknownCommit, rev)
	case !doc.Complete:
		return "", fmt.Errorf("%w: %s", nooper.ErrCollecting, rev)
	}
	doc.Complete, doc.Progress = false, &review.Progress{Hosts: 2}
	n.renoops = append(n.renoops, rev)
	return rev, nil
}

// start makes the nooper know sha, nooping on 2 hosts.
func (n *fakeNooper) start(sha string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.noops[sha] = &review.Document{Branch: "main", Progress: &review.Progress{Answered: 1, Hosts: 2}}
}

// finish completes the noop of sha: one change on both hosts.
func (n *fakeNooper) finish(sha string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.noops[sha] = &review.Document{Branch: "main", Complete: true, Result: &delta.Result{
		Commit: sha, Hosts: []string{"fozzie.example.com", "statler.example.com"},
		Groups: []delta.Group{{Hosts: []string{"fozzie.example.com", "statler.example.com"}}},
	}}
}

func (n *fakeNooper) asked() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.renoops)
}

// triggerSite is a Trigger on a test server: its repository a fixture's
// bare repository (main: base ← tip; side: a commit off main), its
// records in a real bucket, its commit events on a real COMMITS stream.
type triggerSite struct {
	t          *testing.T
	f          *gittest.Fixture
	conn       *bus.Conn
	kv         jetstream.KeyValue
	nooper     *fakeNooper
	base, tip  string
	side       string
	srv        *httptest.Server
	stopWorker func()
}

func newTriggerSite(t *testing.T) *triggerSite {
	t.Helper()
	s := &triggerSite{t: t, f: gittest.New(t), conn: bustest.Start(t), nooper: &fakeNooper{noops: map[string]*review.Document{}}}
	s.base = s.f.Commit("base", map[string]string{"a": "1"})
	s.tip = s.f.Commit("tip", map[string]string{"a": "2"})
	s.f.Git("checkout", "--quiet", "-b", "side")
	s.side = s.f.Commit("side", map[string]string{"b": "1"})
	s.f.Push("main", "side")
	kv, err := s.conn.JS.KeyValue(context.Background(), committer.TriggerBucket)
	if err != nil {
		t.Fatal(err)
	}
	s.kv = kv
	s.start(true)
	return s
}

// start serves a new Trigger on the site's bucket, as a restarted serve
// would, and runs its worker when work is set.
func (s *triggerSite) start(work bool) {
	s.t.Helper()
	if s.srv != nil {
		s.srv.Close()
		s.stopWorker()
	}
	log := zerolog.New(zerolog.NewTestWriter(s.t))
	c, err := committer.New(committer.Options{RepoName: "puppet", RepoPath: s.f.Bare, Log: log},
		committer.BusPublisher{Conn: s.conn, Log: log})
	if err != nil {
		s.t.Fatal(err)
	}
	tr, err := committer.NewTrigger(context.Background(), committer.TriggerOptions{
		Token: []byte(triggerToken), Committer: c, Nooper: s.nooper, Bucket: s.kv, Log: log,
		Retry: 10 * time.Millisecond,
	})
	if err != nil {
		s.t.Fatal(err)
	}
	s.srv = httptest.NewServer(tr.Handler())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if work {
			_ = tr.Run(ctx)
		}
	}()
	s.stopWorker = func() { cancel(); <-done }
	s.t.Cleanup(func() { s.srv.Close(); s.stopWorker() })
}

// do sends method path with body (none when ""), with the bearer token
// auth unless it is "", and returns the status and the body.
func (s *triggerSite) do(method, path, auth, body string) (int, http.Header, string) {
	s.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, s.srv.URL+path, r)
	if err != nil {
		s.t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", "Bearer "+auth)
	}
	resp, err := s.srv.Client().Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(data)
}

// post triggers body and returns the accepted trigger's status.
func (s *triggerSite) post(body string) committer.TriggerStatus {
	s.t.Helper()
	code, h, data := s.do(http.MethodPost, "/trigger", triggerToken, body)
	if code != http.StatusAccepted {
		s.t.Fatalf("POST %s: %d %s", body, code, data)
	}
	var st committer.TriggerStatus
	if err := json.Unmarshal([]byte(data), &st); err != nil {
		s.t.Fatal(err)
	}
	if st.ID == "" || h.Get("Location") != "/trigger/"+st.ID {
		s.t.Fatalf("POST %s: id %q, Location %q", body, st.ID, h.Get("Location"))
	}
	return st
}

func (s *triggerSite) status(id string) committer.TriggerStatus {
	s.t.Helper()
	code, _, data := s.do(http.MethodGet, "/trigger/"+id, triggerToken, "")
	if code != http.StatusOK {
		s.t.Fatalf("GET %s: %d %s", id, code, data)
	}
	var st committer.TriggerStatus
	if err := json.Unmarshal([]byte(data), &st); err != nil {
		s.t.Fatal(err)
	}
	return st
}

func (s *triggerSite) waitState(id, state string) committer.TriggerStatus {
	s.t.Helper()
	var st committer.TriggerStatus
	bustest.Eventually(s.t, 0, "trigger "+id+" "+state, func() bool {
		st = s.status(id)
		return st.State == state
	})
	return st
}

func TestTriggerRefusesABadOrMissingToken(t *testing.T) {
	s := newTriggerSite(t)
	body := `{"revision": "main"}`
	for _, tc := range []struct{ name, auth, want string }{
		{"missing", "", "missing bearer token"},
		{"wrong", "not-the-token", "wrong bearer token"},
		{"prefix of the token", triggerToken[:5], "wrong bearer token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, h, data := s.do(http.MethodPost, "/trigger", tc.auth, body)
			if code != http.StatusUnauthorized || !strings.Contains(data, tc.want) || h.Get("WWW-Authenticate") == "" {
				t.Errorf("POST: %d %q (WWW-Authenticate %q), want 401 saying %q", code, data, h.Get("WWW-Authenticate"), tc.want)
			}
			code, _, data = s.do(http.MethodGet, "/trigger/0123456789abcdef0123456789abcdef", tc.auth, "")
			if code != http.StatusUnauthorized || !strings.Contains(data, tc.want) {
				t.Errorf("GET: %d %q, want 401 saying %q", code, data, tc.want)
			}
		})
	}
	if keys, err := s.kv.Keys(context.Background()); err == nil {
		t.Errorf("refused triggers were stored: %v", keys)
	}
}

func TestTriggerRefusesMalformedRequests(t *testing.T) {
	s := newTriggerSite(t)
	for _, tc := range []struct {
		name, body string
		code       int
		want       string
	}{
		{"not JSON", `revision=main`, http.StatusBadRequest, "want {"},
		{"empty", ``, http.StatusBadRequest, "want {"},
		{"neither", `{}`, http.StatusBadRequest, "exactly one"},
		{"both", `{"revision": "main", "renoop": "main"}`, http.StatusBadRequest, "exactly one"},
		{"unknown field", `{"revision": "main", "force": true}`, http.StatusBadRequest, "unknown field"},
		{"two values", `{"revision": "main"} {"revision": "main"}`, http.StatusBadRequest, "more than one"},
		{"not a string", `{"revision": 42}`, http.StatusBadRequest, "want {"},
		{"option-like", `{"revision": "--all"}`, http.StatusBadRequest, "starts with '-'"},
		{"space", `{"revision": "main side"}`, http.StatusBadRequest, "space"},
		{"control", `{"revision": "main\u0007"}`, http.StatusBadRequest, "unprintable"},
		{"long", `{"revision": "` + strings.Repeat("a", 300) + `"}`, http.StatusBadRequest, "longer than"},
		{"too large", `{"revision": "` + strings.Repeat("a", committer.MaxTriggerBody) + `"}`, http.StatusRequestEntityTooLarge, "larger than"},
		{"unknown revision", `{"revision": "no-such-branch"}`, http.StatusNotFound, "no revision"},
		{"off the branch", `{"revision": "side"}`, http.StatusUnprocessableEntity, "not on the first-parent chain of main"},
		{"renoop of a commit never nooped", `{"renoop": "main"}`, http.StatusNotFound, "no noop"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, data := s.do(http.MethodPost, "/trigger", triggerToken, tc.body)
			var e struct{ Error string }
			if err := json.Unmarshal([]byte(data), &e); err != nil {
				t.Fatalf("%d, body not JSON: %q", code, data)
			}
			if code != tc.code || !strings.Contains(e.Error, tc.want) {
				t.Errorf("%d %q, want %d saying %q", code, e.Error, tc.code, tc.want)
			}
		})
	}
	for _, id := range []string{"nope", "0123456789abcdef0123456789abcdef"} {
		if code, _, data := s.do(http.MethodGet, "/trigger/"+id, triggerToken, ""); code != http.StatusNotFound {
			t.Errorf("GET %s: %d %q, want 404", id, code, data)
		}
	}
	if keys, err := s.kv.Keys(context.Background()); err == nil {
		t.Errorf("refused triggers were stored: %v", keys)
	}
}

// A revision the nooper never saw is published as a commit event on its
// branch (the published marker untouched), followed through the nooper's
// service until its review is ready, and kept across a restart.
func TestTriggerNoopsARevision(t *testing.T) {
	s := newTriggerSite(t)
	st := s.post(`{"revision": "main"}`)
	if st.Commit != s.tip || st.Branch != "main" || st.Kind != committer.TriggerNoop || st.State != committer.TriggerQueued {
		t.Errorf("accepted %+v, want a queued noop of %s on main", st, s.tip)
	}
	st = s.waitState(st.ID, committer.TriggerDispatched)
	if st.Dispatched == nil || !strings.Contains(st.Reason, "not started") {
		t.Errorf("dispatched before the nooper started: %+v", st)
	}
	stream, err := s.conn.JS.Stream(context.Background(), "COMMITS")
	if err != nil {
		t.Fatal(err)
	}
	msg, err := stream.GetLastMsgForSubject(context.Background(), "balcony.commit.puppet")
	if err != nil {
		t.Fatal(err)
	}
	var ev protocol.CommitEvent
	if err := bus.Unmarshal(msg.Data, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.New != s.tip || ev.Branch != "main" || ev.Ref != "refs/heads/main" || ev.Source != committer.SourceTrigger || len(ev.Commits) != 1 || ev.Commits[0].SHA != s.tip {
		t.Errorf("commit event %+v, want the tip of main from a trigger", ev)
	}
	if out := s.f.GitIn(s.f.Bare, "for-each-ref", "refs/balcony/"); out != "" {
		t.Errorf("a trigger moved published markers: %s", out)
	}

	s.nooper.start(s.tip)
	st = s.waitState(st.ID, committer.TriggerDispatched)
	bustest.Eventually(t, 0, "progress", func() bool {
		st = s.status(st.ID)
		return st.Progress != nil
	})
	if st.Progress.Answered != 1 || st.Progress.Hosts != 2 || !strings.Contains(st.Reason, "nooping") {
		t.Errorf("while nooping: %+v", st)
	}
	s.nooper.finish(s.tip)
	st = s.waitState(st.ID, committer.TriggerReady)
	if st.Summary == nil || st.Summary.Changes != 1 || st.Summary.Hosts != 2 || !strings.Contains(st.Summary.Text, "1 change") {
		t.Errorf("ready without the review's summary: %+v", st)
	}

	s.start(false)
	if got := s.status(st.ID); got.State != committer.TriggerReady || got.Summary == nil || got.Commit != s.tip {
		t.Errorf("after a restart: %+v", got)
	}
}

// Two re-noops of one commit, asked at once, noop one after the other:
// the second is handed on only once the first is recorded ready.
func TestTriggerRenoopsOneAfterTheOther(t *testing.T) {
	s := newTriggerSite(t)
	s.nooper.finish(s.base)
	var first, second committer.TriggerStatus
	var wg sync.WaitGroup
	wg.Go(func() { first = s.post(`{"renoop": "` + s.base[:12] + `"}`) })
	wg.Go(func() { second = s.post(`{"renoop": "` + s.base + `"}`) })
	wg.Wait()
	if first.Commit != s.base || second.Commit != s.base || first.Kind != committer.TriggerRenoop {
		t.Fatalf("accepted %+v and %+v, want re-noops of %s", first, second, s.base)
	}
	// Asked at once, either may be queued first.
	bustest.Eventually(t, 0, "one trigger dispatched", func() bool {
		if s.status(second.ID).State == committer.TriggerDispatched {
			first, second = second, first
		}
		return s.status(first.ID).State == committer.TriggerDispatched
	})
	if got := s.status(second.ID); got.State != committer.TriggerQueued {
		t.Errorf("second trigger %s while the first noop runs, want queued", got.State)
	}
	if got := s.nooper.asked(); len(got) != 1 {
		t.Errorf("re-noops asked while the first runs: %v", got)
	}
	s.nooper.finish(s.base)
	s.waitState(first.ID, committer.TriggerReady)
	s.waitState(second.ID, committer.TriggerDispatched)
	s.nooper.finish(s.base)
	s.waitState(second.ID, committer.TriggerReady)
	if got := s.nooper.asked(); len(got) != 2 {
		t.Errorf("re-noops asked: %v, want 2", got)
	}
	if got := s.status(first.ID); got.State != committer.TriggerReady {
		t.Errorf("first trigger %s after the second ran, want ready still", got.State)
	}
}

// A trigger queued when serve stops is handed on by the next serve.
func TestTriggerRestartKeepsTheQueue(t *testing.T) {
	s := newTriggerSite(t)
	s.start(false) // no worker: the trigger stays queued
	s.nooper.finish(s.tip)
	st := s.post(`{"renoop": "main"}`)
	if got := s.status(st.ID); got.State != committer.TriggerQueued {
		t.Fatalf("without a worker: %s", got.State)
	}
	s.start(true)
	s.waitState(st.ID, committer.TriggerDispatched)
	if got := s.nooper.asked(); !slices.Equal(got, []string{s.tip}) {
		t.Errorf("re-noops asked: %v", got)
	}
}

// A re-noop of a commit the nooper forgot since it was accepted fails,
// saying why.
func TestTriggerFailsWithTheReason(t *testing.T) {
	s := newTriggerSite(t)
	s.start(false)
	s.nooper.finish(s.tip)
	st := s.post(`{"renoop": "main"}`)
	s.nooper.mu.Lock()
	delete(s.nooper.noops, s.tip)
	s.nooper.mu.Unlock()
	s.start(true)
	got := s.waitState(st.ID, committer.TriggerFailed)
	if !strings.Contains(got.Reason, "no noop") {
		t.Errorf("failed saying %q", got.Reason)
	}
}
