package approver_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/balcony-dev/balcony/pkg/approver"
	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/delta"
	"github.com/balcony-dev/balcony/pkg/github"
	"github.com/balcony-dev/balcony/pkg/github/githubtest"
	"github.com/balcony-dev/balcony/pkg/owners"
	"github.com/balcony-dev/balcony/pkg/report"
)

// Markers of what balcony writes on GitHub (pkg/github's format).
const (
	statusMarker     = "<!-- balcony:status -->"
	partMarkerPrefix = "<!-- balcony:part:"
	issuesPath       = "/repos/" + githubtest.Owner + "/" + githubtest.Repo + "/issues"
)

// startGitHub starts a harness whose approver has a real GitHub client,
// token-authenticated, on a fake GitHub; poll is Options.GitHubPoll, and
// adjust (when not nil) changes the other options first.
func startGitHub(t *testing.T, poll time.Duration, adjust func(*approver.Options)) (*harness, *githubtest.Server) {
	t.Helper()
	h := start(t)
	h.stopApprover()
	gh := githubtest.New(t)
	client, err := github.New(github.Options{
		BaseURL: gh.BaseURL, Owner: githubtest.Owner, Repo: githubtest.Repo, Token: "t0ken",
	}, gh.HTTPClient())
	if err != nil {
		t.Fatal(err)
	}
	h.opts.GitHub, h.opts.GitHubPoll = client, poll
	if adjust != nil {
		adjust(&h.opts)
	}
	h.startGitHubApprover()
	return h, gh
}

// startGitHubApprover starts an approver and waits until it also reads
// GitHub comments: its service answers before that, and a stop in between
// would cut its start-up short.
func (h *harness) startGitHubApprover() {
	h.t.Helper()
	h.startApprover()
	ctx := context.Background()
	eventually(h.t, wait, "the approver reads GitHub comments", func() bool {
		c, err := h.conn.JS.Consumer(ctx, "GITHUB", "approver-github")
		if err != nil {
			return false
		}
		info, err := c.Info(ctx)
		return err == nil && info.NumWaiting > 0
	})
}

// issuesOf returns the review issues of sha: those whose body starts with
// the commit's marker.
func issuesOf(gh *githubtest.Server, sha string) []githubtest.Issue {
	var out []githubtest.Issue
	for _, is := range gh.Issues() {
		if got, ok := github.CommitOf(is.Body); ok && got == sha {
			out = append(out, is)
		}
	}
	return out
}

// theIssue returns sha's one review issue, failing the test unless there
// is exactly one.
func theIssue(t *testing.T, gh *githubtest.Server, sha string) githubtest.Issue {
	t.Helper()
	issues := issuesOf(gh, sha)
	if len(issues) != 1 {
		t.Fatalf("%d review issues of %s, want 1: %+v", len(issues), sha[:12], issues)
	}
	return issues[0]
}

// statusComments returns the status comments of an issue.
func statusComments(gh *githubtest.Server, issue int) []githubtest.Comment {
	var out []githubtest.Comment
	for _, c := range gh.Comments(issue) {
		if strings.HasPrefix(c.Body, statusMarker) {
			out = append(out, c)
		}
	}
	return out
}

// requestBody decodes the "body" of a call's JSON request.
func requestBody(t *testing.T, c githubtest.Call) string {
	t.Helper()
	var req struct{ Body string }
	if err := json.Unmarshal([]byte(c.Body), &req); err != nil {
		t.Fatalf("%s: request body: %v", c, err)
	}
	return req.Body
}

// record reads sha's approvals record as stored.
func (h *harness) record(sha string) *approver.Record {
	h.t.Helper()
	kv, err := h.conn.JS.KeyValue(context.Background(), "approvals")
	if err != nil {
		h.t.Fatal(err)
	}
	e, err := kv.Get(context.Background(), sha)
	if err != nil {
		h.t.Fatalf("approvals of %s: %v", sha, err)
	}
	var rec approver.Record
	if err := bus.Unmarshal(e.Value(), &rec); err != nil {
		h.t.Fatal(err)
	}
	return &rec
}

// forgetGitHubState rewrites sha's approvals record without its github
// field, as a record written before GitHub was configured (or restored
// from an old backup) would be.
func (h *harness) forgetGitHubState(sha string) {
	h.t.Helper()
	ctx := context.Background()
	kv, err := h.conn.JS.KeyValue(ctx, "approvals")
	if err != nil {
		h.t.Fatal(err)
	}
	e, err := kv.Get(ctx, sha)
	if err != nil {
		h.t.Fatal(err)
	}
	var fields map[string]any
	if err := bus.Unmarshal(e.Value(), &fields); err != nil {
		h.t.Fatal(err)
	}
	if _, ok := fields["github"]; !ok {
		h.t.Fatalf("record of %s has no github field: %v", sha, fields)
	}
	delete(fields, "github")
	data, err := bus.Marshal(fields)
	if err != nil {
		h.t.Fatal(err)
	}
	if _, err := kv.Update(ctx, sha, data, e.Revision()); err != nil {
		h.t.Fatal(err)
	}
	if rec := h.record(sha); rec.GitHub.Number != 0 {
		h.t.Fatalf("github state still stored: %+v", rec.GitHub)
	}
}

func TestGitHubOneIssuePerCommit(t *testing.T) {
	h, gh := startGitHub(t, time.Hour, nil)
	c := commit("one issue")
	none := commit("nothing to review")
	h.putNoop(c, []delta.Group{siteGroup})
	h.putNoop(none, []delta.Group{})
	h.publishReady(c.SHA)
	h.publishReady(none.SHA)
	h.settle()

	issue := theIssue(t, gh, c.SHA)
	if n := len(issuesOf(gh, none.SHA)); n != 0 {
		t.Errorf("%d issues for a commit without changes, want none", n)
	}
	if issue.State != "open" || !slices.Contains(issue.Labels, github.DefaultLabel) || !strings.Contains(issue.Title, c.SHA[:12]) {
		t.Errorf("issue %+v: want open, labelled %q, its title naming the commit", issue, github.DefaultLabel)
	}

	steps := []struct {
		name   string
		before func()
		by     string // a non-owner's approval: it changes the status only
	}{
		{"restarted approver, same noop.ready", func() {
			h.stopApprover()
			h.startGitHubApprover()
		}, "rowlf"},
		{"github state lost from the record", func() {
			h.stopApprover()
			h.forgetGitHubState(c.SHA)
			h.startGitHubApprover()
		}, "beaker"},
	}
	for _, s := range steps {
		s.before()
		h.publishReady(c.SHA)
		h.settle()
		if r := h.approve(c.SHA, s.by); r.Approved {
			t.Fatalf("%s: %s's approval completed the commit", s.name, s.by)
		}
		if got := theIssue(t, gh, c.SHA); got.Number != issue.Number {
			t.Errorf("%s: review issue #%d, want #%d", s.name, got.Number, issue.Number)
		}
		status := statusComments(gh, issue.Number)
		if len(status) != 1 || !strings.Contains(status[0].Body, s.by+" via cli") {
			t.Errorf("%s: status comments %+v, want one showing %s's approval", s.name, status, s.by)
		}
		if rec := h.record(c.SHA); rec.GitHub.Number != issue.Number || rec.GitHub.StatusCommentID != status[0].ID {
			t.Errorf("%s: stored github state %+v, want issue #%d, status comment %d", s.name, rec.GitHub, issue.Number, status[0].ID)
		}
	}
	creates, searches := 0, 0
	for _, call := range gh.Calls() {
		switch {
		case call.Method == "POST" && call.Path == issuesPath:
			creates++
		case call.Method == "GET" && call.Path == issuesPath:
			searches++
		}
	}
	if creates != 1 || len(gh.Issues()) != 1 {
		t.Errorf("%d issues created, %d on GitHub; want 1", creates, len(gh.Issues()))
	}
	// Searched by marker before creating it, and again once its number
	// was lost; never while the record knew it.
	if searches != 2 {
		t.Errorf("issues listed %d times, want 2", searches)
	}
}

// bigGroups are n groups whose diffs add lines lines each, about 40
// bytes a line.
func bigGroups(n, lines int) []delta.Group {
	var groups []delta.Group
	for i := range n {
		path := fmt.Sprintf("/etc/app-%03d.conf", i)
		var d strings.Builder
		fmt.Fprintf(&d, "--- %s\n+++ %s\n@@ -0,0 +1,%d @@\n", path, path, lines)
		for l := range lines {
			fmt.Fprintf(&d, "+setting_%03d_%04d = wocka wocka wöcka\n", i, l)
		}
		g := siteGroup
		g.ID = fmt.Sprintf("b16000000%03d", i)
		g.Resource.ID, g.Resource.Title = "File["+path+"]", path
		g.Resource.Diff = d.String()
		groups = append(groups, g)
	}
	return groups
}

func TestGitHubLargeReviewIsSplitNotCut(t *testing.T) {
	h, gh := startGitHub(t, time.Hour, nil)
	c := commit("many settings")
	groups := bigGroups(6, 700)
	h.putNoop(c, groups)
	h.publishReady(c.SHA)
	h.settle()

	issue := theIssue(t, gh, c.SHA)
	bodies := []string{issue.Body}
	for _, cm := range gh.Comments(issue.Number) {
		if strings.HasPrefix(cm.Body, partMarkerPrefix) {
			bodies = append(bodies, cm.Body)
		}
	}
	all := strings.Join(bodies, "")
	if len(all) <= 150_000 || len(bodies) < 3 {
		t.Fatalf("review of %d bytes in %d parts, want over 150,000 bytes in 3 or more", len(all), len(bodies))
	}
	for i, b := range bodies {
		if len(b) > githubtest.MaxBody {
			t.Errorf("part %d is %d bytes, over GitHub's limit", i+1, len(b))
		}
		if i > 0 && !strings.Contains(b, fmt.Sprintf("part %d of %d", i+1, len(bodies))) {
			t.Errorf("part %d does not say which part it is: %.120q", i+1, b)
		}
	}
	for _, g := range groups {
		if !strings.Contains(all, "### "+g.Resource.ID+"\n") {
			t.Errorf("review lost group %s (%s)", g.ID, g.Resource.ID)
		}
	}
	last := fmt.Sprintf("+setting_%03d_%04d = wocka wocka wöcka\n", len(groups)-1, 699)
	if !strings.Contains(all, last) {
		t.Errorf("review lost the last diff line %q", last)
	}
	if rec := h.record(c.SHA); len(rec.GitHub.PartCommentIDs) != len(bodies)-1 {
		t.Errorf("stored part comment ids %v, want %d", rec.GitHub.PartCommentIDs, len(bodies)-1)
	}
}

func TestGitHubApprovalOnSecondPageOfComments(t *testing.T) {
	const pageSize = 3
	h, gh := startGitHub(t, 100*time.Millisecond, nil)
	gh.SetPageSize(pageSize)
	c := commit("paged comments")
	h.putNoop(c, []delta.Group{siteGroup})
	h.publishReady(c.SHA)
	h.settle()
	n := theIssue(t, gh, c.SHA).Number

	for i := range pageSize {
		gh.AddComment(n, "Rowlf", fmt.Sprintf("question %d", i))
	}
	gh.AddComment(n, "Rowlf", "approved") // not an owner of site.pp
	eventually(t, wait, "the poll records rowlf's comment", func() bool {
		return slices.ContainsFunc(h.status(c.SHA).Approvals, func(a owners.Approval) bool { return a.By == "rowlf" })
	})
	if st := h.status(c.SHA); st.Approved || len(st.Approvals) != 1 || st.Approvals[0].Source != owners.SourceGitHub {
		t.Errorf("after a non-owner's approval: approved %v, approvals %+v; want one from github, not counted", st.Approved, st.Approvals)
	}
	if got := theIssue(t, gh, c.SHA).State; got != "open" {
		t.Errorf("issue %s after a non-owner's approval, want open", got)
	}

	fozzie := gh.AddComment(n, "Fozzie", "Approved")
	comments := gh.Comments(n)
	if i := slices.IndexFunc(comments, func(cm githubtest.Comment) bool { return cm.ID == fozzie }); i < pageSize {
		t.Fatalf("fozzie's comment is number %d, not on page 2", i+1)
	}
	eventually(t, wait, "fozzie's approval on page 2 closes the issue", func() bool {
		return theIssue(t, gh, c.SHA).State == "closed"
	})
	st := h.status(c.SHA)
	if !st.Approved || !slices.Equal(groupStatus(t, st, siteGroup.ID).ApprovedBy, []string{"fozzie"}) {
		t.Errorf("approved %v by %v, want fozzie's approval counted", st.Approved, groupStatus(t, st, siteGroup.ID).ApprovedBy)
	}
	page2 := false
	for _, call := range gh.Calls() {
		page2 = page2 || call.Path == fmt.Sprintf("%s/%d/comments", issuesPath, n) && strings.Contains(call.Query, "page=2")
	}
	if !page2 {
		t.Error("page 2 of the comments was never read")
	}
	// Each comment counts once, however often it is read.
	if len(st.Approvals) != 2 {
		t.Errorf("approvals %+v, want rowlf's and fozzie's once each", st.Approvals)
	}
}

func TestGitHubStatusCommentEditedNotReposted(t *testing.T) {
	h, gh := startGitHub(t, time.Hour, nil)
	c := commit("status edits")
	h.putNoop(c, []delta.Group{siteGroup, motdGroup})
	h.publishReady(c.SHA)
	h.settle()
	n := theIssue(t, gh, c.SHA).Number

	h.approve(c.SHA, "kermit")
	if r := h.approve(c.SHA, "scooter"); !r.Approved {
		t.Fatalf("kermit and scooter approve: %+v", r)
	}
	status := statusComments(gh, n)
	if len(status) != 1 || !strings.Contains(status[0].Body, "**APPROVED**") ||
		!strings.Contains(status[0].Body, "kermit via cli") || !strings.Contains(status[0].Body, "scooter via cli") {
		t.Fatalf("status comments %+v, want one showing both approvals", status)
	}
	posts, patches := 0, 0
	for _, call := range gh.Calls() {
		switch {
		case call.Method == "POST" && call.Path == fmt.Sprintf("%s/%d/comments", issuesPath, n) && strings.HasPrefix(requestBody(t, call), statusMarker):
			posts++
		case call.Method == "PATCH" && call.Path == fmt.Sprintf("%s/comments/%d", issuesPath, status[0].ID):
			patches++
		}
	}
	if posts != 1 || patches != 2 {
		t.Errorf("status comment posted %d times and edited %d times, want 1 and 2", posts, patches)
	}
	if got := theIssue(t, gh, c.SHA).State; got != "closed" {
		t.Errorf("issue %s once approved, want closed", got)
	}
}

func TestGitHubLapseReopensIssue(t *testing.T) {
	h, gh := startGitHub(t, time.Hour, nil)
	c := commit("lapse reopens")
	h.putNoop(c, []delta.Group{siteGroup})
	h.publishReady(c.SHA)
	h.settle()
	if r := h.approve(c.SHA, "fozzie"); !r.Approved {
		t.Fatalf("fozzie approves: %+v", r)
	}
	if got := theIssue(t, gh, c.SHA).State; got != "closed" {
		t.Fatalf("issue %s once approved, want closed", got)
	}

	otherContent := siteGroup
	otherContent.Resource.Events = []report.Event{{Property: "content", Previous: "{md5}0", Desired: "{md5}2", Status: "noop"}}
	h.putNoop(c, []delta.Group{otherContent})
	h.publishReady(c.SHA)
	h.settle()

	issue := theIssue(t, gh, c.SHA)
	if issue.State != "open" {
		t.Errorf("issue %s after the approval lapsed, want open", issue.State)
	}
	if !strings.Contains(issue.Body, "{md5}2") {
		t.Errorf("issue body does not show the new content: %.300q", issue.Body)
	}
	status := statusComments(gh, issue.Number)
	if len(status) != 1 || !strings.Contains(status[0].Body, "lapsed: fozzie") {
		t.Errorf("status comments %+v, want one saying fozzie's approval lapsed", status)
	}
	var last string
	for _, call := range gh.Calls() {
		if call.Method == "PATCH" && call.Path == fmt.Sprintf("%s/%d", issuesPath, issue.Number) {
			last = call.Body
		}
	}
	if !strings.Contains(last, `"state":"open"`) || !strings.Contains(last, `"state_reason":"reopened"`) {
		t.Errorf("last issue edit %s, want it reopened", last)
	}
}

func TestGitHubTeamFromCodeOwners(t *testing.T) {
	h, gh := startGitHub(t, time.Hour, func(o *approver.Options) {
		o.Config.Teams = nil // muppets/ops comes from GitHub only
	})
	gh.SetPageSize(2)
	members := []string{"Rizzo", "pepe", "Lips", "floyd", "Animal"} // animal on page 3
	gh.SetTeam("muppets", "ops", members...)
	c := commit("team from github")
	h.putNoop(c, []delta.Group{motdGroup})
	h.publishReady(c.SHA)
	h.settle()

	needed := h.events.of("approval.needed", c.SHA)
	if len(needed) != 1 {
		t.Fatalf("%d approval.needed events, want 1", len(needed))
	}
	var d neededData
	decodeData(t, needed[0], &d)
	for _, m := range members {
		if !slices.Contains(d.Owners.Module.Logins, owners.Normalize(m)) {
			t.Errorf("module owner logins %v lack %s", d.Owners.Module.Logins, m)
		}
	}
	if r := h.approve(c.SHA, "scooter"); r.Approved {
		t.Errorf("scooter, in the team only by the config no longer used, approved: %+v", r)
	}
	if r := h.approve(c.SHA, "animal"); !r.Approved || !slices.Equal(r.Counted, []string{motdGroup.ID}) {
		t.Errorf("animal, on the last page of the team, approves: %+v; want the commit approved", r)
	}
	var pages []string
	for _, call := range gh.Calls() {
		if call.Path == "/orgs/muppets/teams/ops/members" {
			pages = append(pages, call.Query)
		}
	}
	if len(pages) != 3 {
		t.Errorf("team members read in %d requests %v, want 3 pages, then cached", len(pages), pages)
	}
}
