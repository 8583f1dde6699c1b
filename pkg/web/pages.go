package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/balcony-dev/balcony/pkg/applier"
	"github.com/balcony-dev/balcony/pkg/approver"
	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/delta"
	"github.com/balcony-dev/balcony/pkg/nooper"
	"github.com/balcony-dev/balcony/pkg/owners"
	"github.com/balcony-dev/balcony/pkg/protocol"
	"github.com/balcony-dev/balcony/pkg/review"
)

// askTimeout bounds the services' answers to one page.
const askTimeout = 15 * time.Second

// page is what the layout of every page shows.
type page struct {
	Title string
	// Nav is the section the page belongs to: commits or fleet.
	Nav string
	// User is the proxy's user, who may approve; empty when read-only.
	User string
	// Notes are services that did not answer, or answered an error: the
	// page shows what it could.
	Notes []string
	// Said is what the user just did (approve, revoke), as the
	// redirect after it names it.
	Said string
}

// user is the login the authenticating proxy names in UserHeader, when
// the request comes from a trusted proxy and names a valid login; empty
// otherwise.
func (s *Server) user(r *http.Request) string {
	if s.opts.UserHeader == "" {
		return ""
	}
	name := strings.TrimSpace(r.Header.Get(s.opts.UserHeader))
	if name == "" {
		return ""
	}
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return ""
	}
	from := ap.Addr().Unmap()
	for _, p := range s.opts.TrustedProxies {
		if p.Contains(from) {
			if owners.ValidLogin(name) != nil {
				s.log.Warn().Str("header", s.opts.UserHeader).Str("value", name).Msg("the proxy's user is no valid login: read-only")
				return ""
			}
			return owners.Normalize(name)
		}
	}
	s.log.Warn().Str("remote", from.String()).Str("header", s.opts.UserHeader).Msg("a user header from outside the trusted proxies: ignored")
	return ""
}

// note is what a page says of a service that did not answer.
func note(service string, err error) string {
	if errors.Is(err, nats.ErrNoResponders) {
		return "the " + service + " does not answer (is it running?)"
	}
	if msg := err.Error(); strings.Contains(msg, service) {
		return msg
	}
	return "the " + service + ": " + err.Error()
}

// applierStatus is the applier's status, or nil and a note when it does
// not answer: the other stages still show.
func (s *Server) applierStatus(ctx context.Context, p *page) *applier.StatusReply {
	st, err := applier.Client{NC: s.conn.NC}.Status(ctx)
	if err != nil {
		p.Notes = append(p.Notes, note("applier", err))
		return nil
	}
	return st
}

// commitRow is one commit of the list.
type commitRow struct {
	nooper.CommitSummary
	Short string
	Stage Stage
}

type commitsData struct {
	page
	Rows    []commitRow
	Total   int
	Rollout *rolloutView
}

func (s *Server) commitsPage(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), askTimeout)
	defer cancel()
	d := commitsData{page: page{Title: "Commits", Nav: "commits", User: s.user(r)}}
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	reply, err := nooper.Client{NC: s.conn.NC}.Commits(ctx, limit)
	if err != nil {
		s.fail(w, http.StatusBadGateway, "The commits", note("nooper", err))
		return
	}
	st := s.applierStatus(ctx, &d.page)
	approvals := s.approvals(ctx, reply.Commits, &d.page)
	d.Total = reply.Total
	earlier := appliedEarlier(reply.Commits, st)
	for i, c := range reply.Commits {
		d.Rows = append(d.Rows, commitRow{CommitSummary: c, Short: protocol.Short(c.Commit.SHA), Stage: commitStage(c, approvals[i], st, earlier[c.Commit.SHA])})
	}
	d.Rollout = rolloutOf(st)
	s.render(w, http.StatusOK, "commits", d)
}

// approvals asks the approver for the state of every ready commit of cs,
// a few at a time; nil for those it has none of.
func (s *Server) approvals(ctx context.Context, cs []nooper.CommitSummary, p *page) []*approver.StatusReply {
	out := make([]*approver.StatusReply, len(cs))
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	slots := make(chan struct{}, 8)
	for i, c := range cs {
		if c.State != nooper.StateReady {
			continue
		}
		wg.Go(func() {
			slots <- struct{}{}
			defer func() { <-slots }()
			ap, err := approver.Client{NC: s.conn.NC}.Status(ctx, c.Commit.SHA)
			switch {
			case errors.Is(err, approver.ErrNoRecord):
			case err != nil:
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			default:
				out[i] = ap
			}
		})
	}
	wg.Wait()
	if first != nil {
		p.Notes = append(p.Notes, note("approver", first))
	}
	return out
}

type commitData struct {
	page
	Commit     protocol.Commit
	Short      string
	Branch     string
	Stage      Stage
	Complete   bool
	Progress   *review.Progress
	Result     *delta.Result
	Groups     []groupView
	Withdrawn  []groupView
	Drift      []groupView
	Errors     []errorView
	Unanswered string
	Approval   *approver.StatusReply
	// Revocable: the user has an approval of the commit to withdraw.
	Revocable bool
	Rollout   *rolloutView
}

func (s *Server) commitPage(w http.ResponseWriter, r *http.Request) {
	rev := r.PathValue("rev")
	ctx, cancel := context.WithTimeout(r.Context(), askTimeout)
	defer cancel()
	doc, _, err := nooper.Client{NC: s.conn.NC}.Show(ctx, rev)
	switch {
	case errors.Is(err, nooper.ErrUnknownCommit):
		s.fail(w, http.StatusNotFound, "No such commit", "balcony has no noop of "+rev+".")
		return
	case err != nil:
		s.fail(w, http.StatusBadGateway, "Commit "+rev, note("nooper", err))
		return
	}
	d := commitData{page: page{Title: protocol.Short(doc.Commit.SHA) + " " + doc.Commit.Subject, Nav: "commits", User: s.user(r)},
		Commit: doc.Commit, Short: protocol.Short(doc.Commit.SHA), Branch: doc.Branch, Complete: doc.Complete, Progress: doc.Progress, Result: doc.Result}
	if doc.Complete {
		d.Approval, err = approver.Client{NC: s.conn.NC}.Status(ctx, doc.Commit.SHA)
		if err != nil {
			d.Approval = nil
			if !errors.Is(err, approver.ErrNoRecord) {
				d.Notes = append(d.Notes, note("approver", err))
			}
		}
	}
	if d.Approval != nil && d.User != "" {
		for _, a := range d.Approval.Approvals {
			d.Revocable = d.Revocable || a.By == d.User
		}
		switch r.URL.Query().Get("done") {
		case "approve":
			d.Said = "Approved as " + d.User + "."
		case "revoke":
			d.Said = "Revoked " + d.User + "'s approval."
		}
	}
	var st *applier.StatusReply
	earlier := false
	if doc.Complete {
		st = s.applierStatus(ctx, &d.page)
		d.Rollout = rolloutOf(st)
		if st != nil && (st.Rollout == nil || !st.Rollout.Applies(doc.Commit.SHA)) {
			d.Rollout = nil
			earlier = s.appliedEarlier(ctx, doc.Commit.SHA, st)
		}
	}
	d.Stage = commitStage(docSummary(doc), d.Approval, st, earlier)
	if res := doc.Result; res != nil {
		byGroup := approvalsByGroup(d.Approval)
		d.Groups = groupViews(res.Groups, byGroup)
		d.Withdrawn = groupViews(res.Withdrawn, nil)
		d.Drift = groupViews(res.Drift, nil)
		d.Errors = errorViews(res.Errors)
		d.Unanswered = review.CompressHosts(res.Unanswered)
	}
	s.render(w, http.StatusOK, "commit", d)
}

// appliedEarlier tells whether the last rollout's hosts had all applied
// sha before it began, from the nooper's commits (appliedEarlier); asked
// only of a commit the last rollout does not apply. A nooper that does not
// answer leaves the stage as approval and rollout say.
func (s *Server) appliedEarlier(ctx context.Context, sha string, st *applier.StatusReply) bool {
	if st.Rollout == nil || st.Rollout.Base == "" {
		return false
	}
	reply, err := nooper.Client{NC: s.conn.NC}.Commits(ctx, 0)
	if err != nil {
		return false
	}
	return appliedEarlier(reply.Commits, st)[sha]
}

// docSummary is what commitStage needs of a review document.
func docSummary(doc review.Document) nooper.CommitSummary {
	s := nooper.CommitSummary{Commit: doc.Commit, State: nooper.StateCollecting, Progress: doc.Progress}
	if doc.Complete {
		s.State = nooper.StateReady
	}
	if doc.Result != nil {
		s.Hosts = len(doc.Result.Hosts)
	}
	return s
}

// approve approves a commit's groups as the page showed them (each posted
// as seen=<group id>:<digest>) as the proxy's user: a group that changed
// since the page was rendered is not approved by it.
func (s *Server) approve(w http.ResponseWriter, r *http.Request) {
	s.change(w, r, "approve", func(ctx context.Context, c approver.Client, rev, login string) (*approver.ChangeReply, error) {
		if !protocol.ValidSHA(rev) {
			return nil, fmt.Errorf("%q is no full commit sha", rev)
		}
		seen := map[string]string{}
		for _, v := range r.PostForm["seen"] {
			id, digest, ok := strings.Cut(v, ":")
			if !ok || id == "" || digest == "" {
				return nil, fmt.Errorf("bad seen group %q: want <group id>:<digest>", v)
			}
			seen[id] = digest
		}
		return c.ApproveSeen(ctx, rev, login, owners.SourceWeb, seen)
	})
}

// revoke withdraws the proxy's user's approvals of a commit.
func (s *Server) revoke(w http.ResponseWriter, r *http.Request) {
	s.change(w, r, "revoke", func(ctx context.Context, c approver.Client, rev, login string) (*approver.ChangeReply, error) {
		return c.Revoke(ctx, rev, login)
	})
}

func (s *Server) change(w http.ResponseWriter, r *http.Request, verb string, do func(context.Context, approver.Client, string, string) (*approver.ChangeReply, error)) {
	rev := r.PathValue("rev")
	login := s.user(r)
	if login == "" {
		s.metrics.approvals.WithLabelValues(verb, "refused").Inc()
		s.fail(w, http.StatusForbidden, "Read-only", "Approving needs a login from the authenticating proxy (docs/security.md); this request has none.")
		return
	}
	if !sameOrigin(r) {
		s.metrics.approvals.WithLabelValues(verb, "refused").Inc()
		s.fail(w, http.StatusForbidden, "Refused", "The request did not come from this site's own page.")
		return
	}
	if err := r.ParseForm(); err != nil {
		s.fail(w, http.StatusBadRequest, "Bad request", err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), askTimeout)
	defer cancel()
	reply, err := do(ctx, approver.Client{NC: s.conn.NC}, rev, login)
	if err != nil {
		s.metrics.approvals.WithLabelValues(verb, "failed").Inc()
		s.log.Info().Err(err).Str("commit", rev).Str("login", login).Str("verb", verb).Msg("approval from the web refused")
		s.fail(w, http.StatusConflict, verb+" as "+login, err.Error())
		return
	}
	s.metrics.approvals.WithLabelValues(verb, "ok").Inc()
	s.log.Info().Str("commit", reply.Commit).Str("login", login).Str("verb", verb).Bool("approved", reply.Approved).Msg("approval from the web")
	// The page after says what was done from a fixed word, never from
	// text in the address, which anyone could write into a link.
	http.Redirect(w, r, "/commit/"+url.PathEscape(reply.Commit)+"?done="+verb, http.StatusSeeOther)
}

// sameOrigin tells whether a form post came from a page of this site:
// its Origin (or, without one, its Referer) names the host it was sent
// to, so another site cannot make a signed-in browser approve.
func sameOrigin(r *http.Request) bool {
	from := r.Header.Get("Origin")
	if from == "" || from == "null" {
		from = r.Header.Get("Referer")
	}
	if from == "" {
		return r.Header.Get("Sec-Fetch-Site") == "same-origin"
	}
	u, err := url.Parse(from)
	return err == nil && u.Host == r.Host
}

type hostData struct {
	page
	Host    *nooper.HostReply
	Colour  string
	State   string
	Lock    *applier.Lock
	Rollout string
	Why     string
	Pending []pendingView
	Drift   []groupView
}

// pendingView is one commit pending on a host and its groups there.
type pendingView struct {
	Commit protocol.Commit
	Short  string
	Groups []groupView
}

func (s *Server) hostPage(w http.ResponseWriter, r *http.Request) {
	host := r.PathValue("host")
	if err := bus.ValidHost(host); err != nil {
		s.fail(w, http.StatusBadRequest, "Bad host name", err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), askTimeout)
	defer cancel()
	h, err := nooper.Client{NC: s.conn.NC}.Host(ctx, host)
	switch {
	case errors.Is(err, nooper.ErrUnknownHost):
		s.fail(w, http.StatusNotFound, "No such host", "balcony knows nothing of "+host+".")
		return
	case err != nil:
		s.fail(w, http.StatusBadGateway, host, note("nooper", err))
		return
	}
	d := hostData{page: page{Title: host, Nav: "fleet", User: s.user(r)}, Host: h}
	st := s.applierStatus(ctx, &d.page)
	d.Lock = lockOf(st, host)
	d.Rollout, d.Why = hostInRollout(st, host)
	d.Colour, d.State = hostColour(h.HostSummary, d.Lock != nil, strings.HasPrefix(d.Rollout, "failed"))
	for _, p := range h.Pending {
		d.Pending = append(d.Pending, pendingView{Commit: p.Commit, Short: protocol.Short(p.Commit.SHA), Groups: groupViews(p.Groups, nil)})
	}
	d.Drift = groupViews(h.DriftGroups, nil)
	s.render(w, http.StatusOK, "host", d)
}

type fleetData struct {
	page
	Head    *protocol.Commit
	Cells   []hostCell
	Counts  []colourCount
	Rollout *rolloutView
}

// hostCell is one host on the grid.
type hostCell struct {
	Host, Colour, State, Detail string
}

type colourCount struct {
	Colour, State string
	N             int
}

// colours are the grid's states in the order the legend lists them.
var colours = [][2]string{{"current", "up to date"}, {"pending", "pending changes"}, {"failed", "failed"}, {"locked", "locked"}, {"silent", "silent"}}

func (s *Server) fleetPage(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), askTimeout)
	defer cancel()
	hosts, err := nooper.Client{NC: s.conn.NC}.Hosts(ctx)
	if err != nil {
		s.fail(w, http.StatusBadGateway, "The fleet", note("nooper", err))
		return
	}
	d := fleetData{page: page{Title: "Fleet", Nav: "fleet", User: s.user(r)}, Head: hosts.Head}
	st := s.applierStatus(ctx, &d.page)
	n := map[string]int{}
	for _, h := range hosts.Hosts {
		state, _ := hostInRollout(st, h.Host)
		colour, label := hostColour(h, lockOf(st, h.Host) != nil, strings.HasPrefix(state, "failed"))
		n[colour]++
		detail := label
		switch colour {
		case "pending":
			detail = count(h.PendingGroups, "change") + " in " + count(h.PendingCommits, "commit")
		case "failed":
			detail = "failed: " + h.Failed
			if h.Failed == "" {
				detail = "apply " + state
			}
		case "silent":
			detail = "silent since " + h.Seen.UTC().Format("2006-01-02 15:04 UTC")
		}
		d.Cells = append(d.Cells, hostCell{Host: h.Host, Colour: colour, State: label, Detail: detail})
	}
	for _, c := range colours {
		d.Counts = append(d.Counts, colourCount{Colour: c[0], State: c[1], N: n[c[0]]})
	}
	d.Rollout = rolloutOf(st)
	s.render(w, http.StatusOK, "fleet", d)
}

type errorData struct {
	page
	Message string
}

// fail renders the error page.
func (s *Server) fail(w http.ResponseWriter, code int, title, message string) {
	s.render(w, code, "error", errorData{page: page{Title: title}, Message: message})
}

func (s *Server) render(w http.ResponseWriter, code int, name string, data any) {
	if err := s.pages.render(w, code, name, data); err != nil {
		s.log.Error().Err(err).Str("page", name).Msg("page not rendered")
	}
}
