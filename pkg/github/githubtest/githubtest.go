// Package githubtest is an in-process fake of the GitHub REST API for
// tests: the endpoints pkg/github uses (issues, issue comments, team
// members, App installation tokens) of one repository, Owner/Repo, served
// under /api/v3/ as GitHub Enterprise Server does, with pagination by Link
// headers. It records every call, so a test can assert what was written.
//
// It imports nothing of balcony, so pkg/github's own internal tests can use
// it without an import cycle.
package githubtest

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

// The repository served, the one installation whose tokens are handed
// out, and the login of comments created through the API.
const (
	Owner          = "muppets"
	Repo           = "puppet"
	InstallationID = 7
	BotLogin       = "balcony[bot]"
	// MaxBody is GitHub's limit on an issue or comment body; longer ones
	// are refused with 422, as GitHub does.
	MaxBody = 65536
)

// Epoch is the base of comment times: comment id n was created at
// Epoch + n seconds, so creation order is id order.
var Epoch = time.Date(2026, 11, 26, 7, 0, 0, 0, time.UTC)

// Server is a fake GitHub. Create it with New; it is closed when the test
// ends. Its methods are safe for concurrent use.
type Server struct {
	// URL is the server's root (http://127.0.0.1:port); BaseURL is
	// URL + "/api/v3/", for github.Options.BaseURL (either works there).
	URL, BaseURL string

	srv *httptest.Server

	mu       sync.Mutex
	pageSize int
	issues   []*Issue
	comments []*Comment
	teams    map[string][]string // "org/slug" -> logins
	calls    []Call
	nextID   int64
	jwts     []string
	tokenTTL time.Duration
}

// Issue is an issue as the server holds it.
type Issue struct {
	Number             int
	Title, Body, State string
	Labels             []string
	PR                 bool // a pull request (the issues API lists both)
}

// Comment is an issue comment as the server holds it.
type Comment struct {
	ID      int64
	Issue   int
	Login   string
	Body    string
	Created time.Time
}

// Call is one request received: method, path without /api/v3, raw query,
// Authorization header and body.
type Call struct {
	Method, Path, Query, Auth, Body string
}

// String is "METHOD path".
func (c Call) String() string { return c.Method + " " + c.Path }

// New starts a server with no issues, comments or teams.
func New(t testing.TB) *Server {
	t.Helper()
	s := &Server{teams: map[string][]string{}, nextID: 1000, tokenTTL: time.Hour}
	repo := "/api/v3/repos/" + Owner + "/" + Repo
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+repo+"/issues", s.listIssues)
	mux.HandleFunc("POST "+repo+"/issues", s.createIssue)
	mux.HandleFunc("GET "+repo+"/issues/{n}", s.getIssue)
	mux.HandleFunc("PATCH "+repo+"/issues/{n}", s.editIssue)
	mux.HandleFunc("GET "+repo+"/issues/{n}/comments", s.listComments)
	mux.HandleFunc("POST "+repo+"/issues/{n}/comments", s.createComment)
	mux.HandleFunc("PATCH "+repo+"/issues/comments/{id}", s.editComment)
	mux.HandleFunc("DELETE "+repo+"/issues/comments/{id}", s.deleteComment)
	mux.HandleFunc("GET /api/v3/orgs/{org}/teams/{slug}/members", s.teamMembers)
	mux.HandleFunc("POST /api/v3/app/installations/{id}/access_tokens", s.accessToken)
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.calls = append(s.calls, Call{r.Method, strings.TrimPrefix(r.URL.Path, "/api/v3"), r.URL.RawQuery, r.Header.Get("Authorization"), string(body)})
		s.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
		w.Header().Set("Content-Type", "application/json")
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(s.srv.Close)
	s.URL, s.BaseURL = s.srv.URL, s.srv.URL+"/api/v3/"
	return s
}

// HTTPClient is a client for the server (what github.New takes).
func (s *Server) HTTPClient() *http.Client { return s.srv.Client() }

// SetPageSize caps per_page, so that few items span several pages; 0
// (the default) honours what the client asks.
func (s *Server) SetPageSize(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pageSize = n
}

// SetTokenTTL sets how long the installation tokens handed out live.
func (s *Server) SetTokenTTL(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokenTTL = d
}

// AddIssue stores an issue as if created earlier and returns its number.
func (s *Server) AddIssue(body, state string, labels ...string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.issues) + 1
	s.issues = append(s.issues, &Issue{Number: n, Title: "old", Body: body, State: state, Labels: labels})
	return n
}

// MarkPullRequest makes issue n a pull request.
func (s *Server) MarkPullRequest(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.issues[n-1].PR = true
}

// AddComment stores a comment by login on issue and returns its id.
func (s *Server) AddComment(issue int, login, body string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addCommentLocked(issue, login, body).ID
}

// DeleteComment removes a comment, as its author deleting it would.
func (s *Server) DeleteComment(id int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.comments = slices.DeleteFunc(s.comments, func(c *Comment) bool { return c.ID == id })
}

// SetTeam sets the members of the team org/slug, in listing order.
func (s *Server) SetTeam(org, slug string, logins ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.teams[org+"/"+slug] = slices.Clone(logins)
}

// Calls returns the calls received so far, in order.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

// TakeCalls returns the calls so far as "METHOD path" and forgets them.
func (s *Server) TakeCalls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, c := range s.calls {
		out = append(out, c.String())
	}
	s.calls = nil
	return out
}

// JWTs returns the App JWTs received by the token endpoint, in order.
func (s *Server) JWTs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.jwts)
}

// Issues returns a copy of every issue, by number.
func (s *Server) Issues() []Issue {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Issue, 0, len(s.issues))
	for _, is := range s.issues {
		c := *is
		c.Labels = slices.Clone(is.Labels)
		out = append(out, c)
	}
	return out
}

// Issue returns a copy of issue n; the zero Issue when there is none.
func (s *Server) Issue(n int) Issue {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n < 1 || n > len(s.issues) {
		return Issue{}
	}
	c := *s.issues[n-1]
	c.Labels = slices.Clone(c.Labels)
	return c
}

// Comments returns copies of issue's comments, oldest first.
func (s *Server) Comments(issue int) []Comment {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Comment
	for _, c := range s.comments {
		if c.Issue == issue {
			out = append(out, *c)
		}
	}
	return out
}

func (s *Server) addCommentLocked(issue int, login, body string) *Comment {
	s.nextID++
	c := &Comment{ID: s.nextID, Issue: issue, Login: login, Body: body, Created: Epoch.Add(time.Duration(s.nextID) * time.Second)}
	s.comments = append(s.comments, c)
	return c
}

// paginate writes a Link header for page r asks of n items and returns the
// slice bounds of that page.
func (s *Server) paginate(w http.ResponseWriter, r *http.Request, n int) (lo, hi int) {
	q := r.URL.Query()
	per, _ := strconv.Atoi(q.Get("per_page"))
	if per <= 0 {
		per = 30
	}
	if s.pageSize > 0 {
		per = min(per, s.pageSize)
	}
	page, _ := strconv.Atoi(q.Get("page"))
	page = max(page, 1)
	lo = min((page-1)*per, n)
	hi = min(lo+per, n)
	if hi < n {
		q.Set("page", strconv.Itoa(page+1))
		w.Header().Set("Link", fmt.Sprintf(`<%s%s?%s>; rel="next"`, s.srv.URL, r.URL.Path, q.Encode()))
	}
	return lo, hi
}

func (s *Server) listIssues(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := r.URL.Query()
	state := cmp.Or(q.Get("state"), "open")
	var match []any
	for _, is := range s.issues {
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
	lo, hi := s.paginate(w, r, len(match))
	writeJSON(w, http.StatusOK, match[lo:hi])
}

func (s *Server) createIssue(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Title, Body string
		Labels      []string
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Title == "" || len(req.Body) > MaxBody {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]string{"message": "Validation Failed"})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	is := &Issue{Number: len(s.issues) + 1, Title: req.Title, Body: req.Body, State: "open", Labels: req.Labels}
	s.issues = append(s.issues, is)
	writeJSON(w, http.StatusCreated, issueJSON(is))
}

func (s *Server) getIssue(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if is := s.lookupIssue(r); is != nil {
		writeJSON(w, http.StatusOK, issueJSON(is))
		return
	}
	writeJSON(w, http.StatusNotFound, map[string]string{"message": "Not Found"})
}

func (s *Server) editIssue(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Title, Body, State *string
		Labels             *[]string
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || (req.Body != nil && len(*req.Body) > MaxBody) {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]string{"message": "Validation Failed"})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	is := s.lookupIssue(r)
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

func (s *Server) lookupIssue(r *http.Request) *Issue {
	n, _ := strconv.Atoi(r.PathValue("n"))
	if n < 1 || n > len(s.issues) || s.issues[n-1] == nil {
		return nil
	}
	return s.issues[n-1]
}

func (s *Server) listComments(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, _ := strconv.Atoi(r.PathValue("n"))
	var match []any
	for _, c := range s.comments {
		if c.Issue == n {
			match = append(match, commentJSON(c))
		}
	}
	lo, hi := s.paginate(w, r, len(match))
	writeJSON(w, http.StatusOK, match[lo:hi])
}

func (s *Server) createComment(w http.ResponseWriter, r *http.Request) {
	var req struct{ Body string }
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || len(req.Body) > MaxBody {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]string{"message": "Validation Failed"})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n, _ := strconv.Atoi(r.PathValue("n"))
	writeJSON(w, http.StatusCreated, commentJSON(s.addCommentLocked(n, BotLogin, req.Body)))
}

func (s *Server) editComment(w http.ResponseWriter, r *http.Request) {
	var req struct{ Body string }
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || len(req.Body) > MaxBody {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]string{"message": "Validation Failed"})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	for _, c := range s.comments {
		if c.ID == id {
			c.Body = req.Body
			writeJSON(w, http.StatusOK, commentJSON(c))
			return
		}
	}
	writeJSON(w, http.StatusNotFound, map[string]string{"message": "Not Found"})
}

func (s *Server) deleteComment(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	s.comments = slices.DeleteFunc(s.comments, func(c *Comment) bool { return c.ID == id })
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) teamMembers(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	logins, ok := s.teams[r.PathValue("org")+"/"+r.PathValue("slug")]
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "Not Found"})
		return
	}
	var users []any
	for _, l := range logins {
		users = append(users, map[string]any{"login": l, "type": "User"})
	}
	lo, hi := s.paginate(w, r, len(users))
	writeJSON(w, http.StatusOK, users[lo:hi])
}

func (s *Server) accessToken(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.PathValue("id") != strconv.Itoa(InstallationID) {
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "Not Found"})
		return
	}
	s.jwts = append(s.jwts, strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
	writeJSON(w, http.StatusCreated, map[string]any{
		"token":      fmt.Sprintf("ghs_installation%d", len(s.jwts)),
		"expires_at": time.Now().Add(s.tokenTTL).UTC().Format(time.RFC3339),
	})
}

func issueJSON(is *Issue) map[string]any {
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

func commentJSON(c *Comment) map[string]any {
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
