package github

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeGitHub is an in-process GitHub REST API (the endpoints this package
// uses, under /api/v3/ as on GitHub Enterprise), with pagination by Link
// headers. It records every call.
type fakeGitHub struct {
	srv *httptest.Server

	mu       sync.Mutex
	pageSize int // caps per_page, so few items span several pages
	issues   []*fakeIssue
	comments []*fakeComment
	teams    map[string][]string // "org/slug" -> logins
	calls    []call
	nextID   int64
	// access_tokens: the JWTs received, and how long a token lives
	jwts     []string
	tokenTTL time.Duration
}

type fakeIssue struct {
	Number             int
	Title, Body, State string
	Labels             []string
	PR                 bool
}

type fakeComment struct {
	ID      int64
	Issue   int
	Login   string
	Body    string
	Created time.Time
}

// call is one request: method, path without /api/v3, raw query, the
// Authorization header and the body.
type call struct {
	Method, Path, Query, Auth, Body string
}

func (c call) String() string { return c.Method + " " + c.Path }

const fakeRepo = "/api/v3/repos/muppets/puppet"

var epoch = time.Date(2026, 11, 26, 7, 0, 0, 0, time.UTC)

func newFake(t *testing.T) *fakeGitHub {
	t.Helper()
	f := &fakeGitHub{teams: map[string][]string{}, nextID: 1000, tokenTTL: time.Hour}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+fakeRepo+"/issues", f.listIssues)
	mux.HandleFunc("POST "+fakeRepo+"/issues", f.createIssue)
	mux.HandleFunc("GET "+fakeRepo+"/issues/{n}", f.getIssue)
	mux.HandleFunc("PATCH "+fakeRepo+"/issues/{n}", f.editIssue)
	mux.HandleFunc("GET "+fakeRepo+"/issues/{n}/comments", f.listComments)
	mux.HandleFunc("POST "+fakeRepo+"/issues/{n}/comments", f.createComment)
	mux.HandleFunc("PATCH "+fakeRepo+"/issues/comments/{id}", f.editComment)
	mux.HandleFunc("DELETE "+fakeRepo+"/issues/comments/{id}", f.deleteComment)
	mux.HandleFunc("GET /api/v3/orgs/{org}/teams/{slug}/members", f.teamMembers)
	mux.HandleFunc("POST /api/v3/app/installations/{id}/access_tokens", f.accessToken)
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.calls = append(f.calls, call{r.Method, strings.TrimPrefix(r.URL.Path, "/api/v3"), r.URL.RawQuery, r.Header.Get("Authorization"), string(body)})
		f.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
		w.Header().Set("Content-Type", "application/json")
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// client returns a token-authenticated Client for muppets/puppet on f.
func (f *fakeGitHub) client(t *testing.T) *Client {
	t.Helper()
	c, err := New(Options{BaseURL: f.srv.URL, Owner: "muppets", Repo: "puppet", Token: "t0ken"}, f.srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// addIssue stores an issue as if created earlier; the number is returned.
func (f *fakeGitHub) addIssue(body, state string, labels ...string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := len(f.issues) + 1
	f.issues = append(f.issues, &fakeIssue{Number: n, Title: "old", Body: body, State: state, Labels: labels})
	return n
}

// addComment stores a comment; created times increase with the ids.
func (f *fakeGitHub) addComment(issue int, login, body string) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.addCommentLocked(issue, login, body).ID
}

func (f *fakeGitHub) addCommentLocked(issue int, login, body string) *fakeComment {
	f.nextID++
	c := &fakeComment{ID: f.nextID, Issue: issue, Login: login, Body: body, Created: epoch.Add(time.Duration(f.nextID) * time.Second)}
	f.comments = append(f.comments, c)
	return c
}

// takeCalls returns the calls so far as "METHOD path" and forgets them.
func (f *fakeGitHub) takeCalls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, c := range f.calls {
		out = append(out, c.String())
	}
	f.calls = nil
	return out
}

func (f *fakeGitHub) issue(n int) fakeIssue {
	f.mu.Lock()
	defer f.mu.Unlock()
	return *f.issues[n-1]
}

// commentsOf returns the bodies of issue's comments, oldest first.
func (f *fakeGitHub) commentsOf(issue int) []fakeComment {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []fakeComment
	for _, c := range f.comments {
		if c.Issue == issue {
			out = append(out, *c)
		}
	}
	return out
}

// paginate writes a Link header for page r asks of n items and returns the
// slice bounds of that page.
func (f *fakeGitHub) paginate(w http.ResponseWriter, r *http.Request, n int) (lo, hi int) {
	q := r.URL.Query()
	per, _ := strconv.Atoi(q.Get("per_page"))
	if per <= 0 {
		per = 30
	}
	if f.pageSize > 0 {
		per = min(per, f.pageSize)
	}
	page, _ := strconv.Atoi(q.Get("page"))
	page = max(page, 1)
	lo = min((page-1)*per, n)
	hi = min(lo+per, n)
	if hi < n {
		q.Set("page", strconv.Itoa(page+1))
		w.Header().Set("Link", fmt.Sprintf(`<%s%s?%s>; rel="next"`, f.srv.URL, r.URL.Path, q.Encode()))
	}
	return lo, hi
}

func (f *fakeGitHub) listIssues(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	q := r.URL.Query()
	state := cmp.Or(q.Get("state"), "open")
	var match []any
	for _, is := range f.issues {
		ok := state == "all" || is.State == state
		for _, l := range strings.Split(q.Get("labels"), ",") {
			ok = ok && (l == "" || slices.Contains(is.Labels, l))
		}
		if ok {
			match = append(match, issueJSON(is))
		}
	}
	if q.Get("direction") != "asc" {
		slices.Reverse(match)
	}
	lo, hi := f.paginate(w, r, len(match))
	writeJSON(w, http.StatusOK, match[lo:hi])
}

func (f *fakeGitHub) createIssue(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Title, Body string
		Labels      []string
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Title == "" || len(req.Body) > maxBody {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]string{"message": "Validation Failed"})
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	is := &fakeIssue{Number: len(f.issues) + 1, Title: req.Title, Body: req.Body, State: "open", Labels: req.Labels}
	f.issues = append(f.issues, is)
	writeJSON(w, http.StatusCreated, issueJSON(is))
}

func (f *fakeGitHub) getIssue(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if is := f.lookupIssue(r); is != nil {
		writeJSON(w, http.StatusOK, issueJSON(is))
		return
	}
	writeJSON(w, http.StatusNotFound, map[string]string{"message": "Not Found"})
}

func (f *fakeGitHub) editIssue(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Title, Body, State *string
		Labels             *[]string
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || (req.Body != nil && len(*req.Body) > maxBody) {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]string{"message": "Validation Failed"})
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	is := f.lookupIssue(r)
	if is == nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "Not Found"})
		return
	}
	setIf(&is.Title, req.Title)
	setIf(&is.Body, req.Body)
	setIf(&is.State, req.State)
	if req.Labels != nil {
		is.Labels = *req.Labels
	}
	writeJSON(w, http.StatusOK, issueJSON(is))
}

func (f *fakeGitHub) lookupIssue(r *http.Request) *fakeIssue {
	n, _ := strconv.Atoi(r.PathValue("n"))
	if n < 1 || n > len(f.issues) || f.issues[n-1] == nil {
		return nil
	}
	return f.issues[n-1]
}

func (f *fakeGitHub) listComments(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, _ := strconv.Atoi(r.PathValue("n"))
	var match []any
	for _, c := range f.comments {
		if c.Issue == n {
			match = append(match, commentJSON(c))
		}
	}
	lo, hi := f.paginate(w, r, len(match))
	writeJSON(w, http.StatusOK, match[lo:hi])
}

func (f *fakeGitHub) createComment(w http.ResponseWriter, r *http.Request) {
	var req struct{ Body string }
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || len(req.Body) > maxBody {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]string{"message": "Validation Failed"})
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	n, _ := strconv.Atoi(r.PathValue("n"))
	writeJSON(w, http.StatusCreated, commentJSON(f.addCommentLocked(n, "balcony[bot]", req.Body)))
}

func (f *fakeGitHub) editComment(w http.ResponseWriter, r *http.Request) {
	var req struct{ Body string }
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || len(req.Body) > maxBody {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]string{"message": "Validation Failed"})
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	for _, c := range f.comments {
		if c.ID == id {
			c.Body = req.Body
			writeJSON(w, http.StatusOK, commentJSON(c))
			return
		}
	}
	writeJSON(w, http.StatusNotFound, map[string]string{"message": "Not Found"})
}

func (f *fakeGitHub) deleteComment(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	f.comments = slices.DeleteFunc(f.comments, func(c *fakeComment) bool { return c.ID == id })
	w.WriteHeader(http.StatusNoContent)
}

func (f *fakeGitHub) teamMembers(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	logins, ok := f.teams[r.PathValue("org")+"/"+r.PathValue("slug")]
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "Not Found"})
		return
	}
	var users []any
	for _, l := range logins {
		users = append(users, map[string]any{"login": l, "type": "User"})
	}
	lo, hi := f.paginate(w, r, len(users))
	writeJSON(w, http.StatusOK, users[lo:hi])
}

func (f *fakeGitHub) accessToken(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.PathValue("id") != "7" {
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "Not Found"})
		return
	}
	f.jwts = append(f.jwts, strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
	writeJSON(w, http.StatusCreated, map[string]any{
		"token":      fmt.Sprintf("ghs_installation%d", len(f.jwts)),
		"expires_at": time.Now().Add(f.tokenTTL).UTC().Format(time.RFC3339),
	})
}

func issueJSON(is *fakeIssue) map[string]any {
	var labels []any
	for _, l := range is.Labels {
		labels = append(labels, map[string]string{"name": l})
	}
	m := map[string]any{"number": is.Number, "title": is.Title, "body": is.Body, "state": is.State, "labels": labels}
	if is.PR {
		m["pull_request"] = map[string]string{"url": "https://example.invalid/pulls/" + strconv.Itoa(is.Number)}
	}
	return m
}

func commentJSON(c *fakeComment) map[string]any {
	return map[string]any{"id": c.ID, "body": c.Body, "user": map[string]string{"login": c.Login}, "created_at": c.Created.Format(time.RFC3339)}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func setIf(dst *string, src *string) {
	if src != nil {
		*dst = *src
	}
}
