package github

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/balcony-dev/balcony/pkg/github/githubtest"
)

const (
	sha   = "0123456789abcdef0123456789abcdef01234567"
	other = "89abcdef0123456789abcdef0123456789abcdef"
	repo  = "/repos/muppets/puppet"
)

func TestSyncReviewOneIssuePerCommit(t *testing.T) {
	mine := commitMarker(sha) + "\nan older review"
	tests := []struct {
		name      string
		setup     func(f *githubtest.Server)
		prev      int
		want      int
		wantCalls []string
	}{{
		name: "creates when none",
		setup: func(f *githubtest.Server) {
			f.AddIssue(commitMarker(other)+"\n", "closed", "balcony")
			f.AddIssue(mine, "open") // no label: a person's copy, not balcony's
		},
		want: 3,
		wantCalls: []string{
			"GET " + repo + "/issues",
			"POST " + repo + "/issues",
			"POST " + repo + "/issues/3/comments", // status
		},
	}, {
		name: "finds on page 2",
		setup: func(f *githubtest.Server) {
			f.SetPageSize(2)
			f.AddIssue(commitMarker(other)+"\n", "closed", "balcony", "ops")
			f.AddIssue("no marker", "open", "balcony")
			f.AddIssue(mine, "open", "balcony")
			f.MarkPullRequest(3) // a pull request quoting the marker
			f.AddIssue(mine, "closed", "balcony")
		},
		want: 4,
		wantCalls: []string{
			"GET " + repo + "/issues",
			"GET " + repo + "/issues",
			"GET " + repo + "/issues/4/comments",
			"POST " + repo + "/issues/4/comments",
			"PATCH " + repo + "/issues/4", // body, title, reopened
		},
	}, {
		name:  "prev number",
		setup: func(f *githubtest.Server) { f.AddIssue(mine, "open", "balcony") },
		prev:  1,
		want:  1,
		wantCalls: []string{
			"GET " + repo + "/issues/1",
			"GET " + repo + "/issues/1/comments",
			"POST " + repo + "/issues/1/comments",
			"PATCH " + repo + "/issues/1",
		},
	}, {
		name:  "prev number deleted, found again",
		setup: func(f *githubtest.Server) { f.AddIssue(mine, "open", "balcony") },
		prev:  9,
		want:  1,
		wantCalls: []string{
			"GET " + repo + "/issues/9",
			"GET " + repo + "/issues",
			"GET " + repo + "/issues/1/comments",
			"POST " + repo + "/issues/1/comments",
			"PATCH " + repo + "/issues/1",
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := githubtest.New(t)
			tt.setup(f)
			st, err := newClient(t, f).SyncReview(context.Background(), sha, "motd: greet", "the review", "pending", false, IssueState{Number: tt.prev})
			if err != nil {
				t.Fatal(err)
			}
			if st.Number != tt.want {
				t.Errorf("issue number = %d, want %d", st.Number, tt.want)
			}
			for _, c := range f.Calls() {
				q, _ := url.ParseQuery(c.Query)
				if c.Method == "GET" && c.Path == repo+"/issues" && (q.Get("labels") != "balcony" || q.Get("state") != "all" || q.Get("per_page") != "100") {
					t.Errorf("listing query = %q, want labels=balcony, state=all, per_page=100", c.Query)
				}
			}
			if diff := cmp.Diff(tt.wantCalls, f.TakeCalls()); diff != "" {
				t.Errorf("calls (-want +got):\n%s", diff)
			}
			got := f.Issue(tt.want)
			wantIssue := githubtest.Issue{Number: tt.want, Title: "motd: greet", Body: commitMarker(sha) + "\nthe review", State: "open", Labels: got.Labels, PR: got.PR}
			if diff := cmp.Diff(wantIssue, got); diff != "" || !strings.Contains(strings.Join(got.Labels, ","), "balcony") {
				t.Errorf("issue (-want +got):\n%s labels %q", diff, got.Labels)
			}
		})
	}
}

func TestSyncReviewStatusEditedNotReposted(t *testing.T) {
	f := githubtest.New(t)
	c := newClient(t, f)
	ctx := context.Background()
	st, err := c.SyncReview(ctx, sha, "t", "review", "waiting for @statler", false, IssueState{})
	if err != nil {
		t.Fatal(err)
	}
	f.TakeCalls()

	steps := []struct {
		name      string
		prev      IssueState
		status    string
		wantCalls []string
	}{
		{"status changed", st, "approved by @statler", []string{
			"GET " + repo + "/issues/1",
			"GET " + repo + "/issues/1/comments",
			"PATCH " + repo + "/issues/comments/" + fmt.Sprint(st.StatusCommentID),
		}},
		{"unchanged: no write", st, "approved by @statler", []string{
			"GET " + repo + "/issues/1",
			"GET " + repo + "/issues/1/comments",
		}},
		{"state lost: found by markers", IssueState{}, "lapsed", []string{
			"GET " + repo + "/issues",
			"GET " + repo + "/issues/1/comments",
			"PATCH " + repo + "/issues/comments/" + fmt.Sprint(st.StatusCommentID),
		}},
	}
	for _, s := range steps {
		got, err := c.SyncReview(ctx, sha, "t", "review", s.status, false, s.prev)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if diff := cmp.Diff(s.wantCalls, f.TakeCalls()); diff != "" {
			t.Errorf("%s: calls (-want +got):\n%s", s.name, diff)
		}
		if diff := cmp.Diff(IssueState{Number: 1, StatusCommentID: st.StatusCommentID, PartCommentIDs: []int64{}}, got); diff != "" {
			t.Errorf("%s: state (-want +got):\n%s", s.name, diff)
		}
		comments := f.Comments(1)
		if len(comments) != 1 || comments[0].Body != statusMarker+"\n"+s.status {
			t.Errorf("%s: comments = %+v, want the one status comment", s.name, comments)
		}
	}
}

func TestSyncReviewCloseAndReopen(t *testing.T) {
	f := githubtest.New(t)
	c := newClient(t, f)
	var st IssueState
	steps := []struct {
		name      string
		approved  bool
		wantState string
		wantPatch string // the issue PATCH body, "" for none
	}{
		{"approved at once: closed", true, "closed", `{"state":"closed","state_reason":"completed"}`},
		{"still approved: no PATCH", true, "closed", ""},
		{"approval lapsed: reopened", false, "open", `{"state":"open","state_reason":"reopened"}`},
		{"still pending: no PATCH", false, "open", ""},
		{"approved again", true, "closed", `{"state":"closed","state_reason":"completed"}`},
	}
	for _, s := range steps {
		var err error
		st, err = c.SyncReview(context.Background(), sha, "t", "review", "status", s.approved, st)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		var patch string
		for _, call := range f.Calls() {
			if call.Method == "PATCH" && call.Path == repo+"/issues/1" {
				patch = strings.TrimSpace(call.Body)
			}
		}
		f.TakeCalls()
		if patch != s.wantPatch {
			t.Errorf("%s: PATCH = %q, want %q", s.name, patch, s.wantPatch)
		}
		if got := f.Issue(1).State; got != s.wantState || st.Closed != (s.wantState == "closed") {
			t.Errorf("%s: state %q, Closed %v; want %q", s.name, got, st.Closed, s.wantState)
		}
	}
}

// bigReview is a review in pkg/review's shape: a heading per file, then
// its diff in a fenced block, files*lines lines of about 40 bytes.
func bigReview(files, lines int) string {
	var b strings.Builder
	b.WriteString("# Noop of 0123456789: app: many settings\n\n## Changes\n\n")
	for i := range files {
		fmt.Fprintf(&b, "### File[/etc/app-%03d.conf]\n\n- **Hosts:** {fozzie,statler}.example.com\n\n```diff\n--- /etc/app-%03d.conf\n+++ /etc/app-%03d.conf\n", i, i, i)
		for l := range lines {
			fmt.Fprintf(&b, "+setting_%03d_%04d = wocka wocka wöcka\n", i, l)
		}
		b.WriteString("```\n\n")
	}
	return b.String()
}

// unframe joins the review parts posted, minus markers, headers and the
// fence lines added at cuts. In these reviews a heading always separates
// two blocks, so a part ending in a fence close followed by one starting
// with a fence open is a block cut between them.
func unframe(bodies []string) string {
	var contents []string
	for i, b := range bodies {
		_, rest, _ := strings.Cut(b, "\n")
		contents = append(contents, strings.TrimPrefix(rest, partHeader(i+1, len(bodies))))
	}
	for i := 1; i < len(contents); i++ {
		first, after, _ := strings.Cut(contents[i], "\n")
		if first == "```diff" && strings.HasSuffix(contents[i-1], "\n```\n") {
			contents[i-1] = strings.TrimSuffix(contents[i-1], "```\n")
			contents[i] = after
		}
	}
	return strings.Join(contents, "")
}

func TestSyncReviewSplitsLongReview(t *testing.T) {
	f := githubtest.New(t)
	c := newClient(t, f)
	st := IssueState{}
	steps := []struct {
		name        string
		review      string
		wantParts   int
		wantDeletes int
	}{
		{"150,000 characters: body and 2 comments", bigReview(6, 640), 3, 0},
		{"unchanged", bigReview(6, 640), 3, 0},
		{"shrunk: surplus part deleted", bigReview(4, 500), 2, 1},
		{"fits the body", bigReview(1, 10), 1, 1},
		{"grows again", bigReview(6, 640), 3, 0},
	}
	if n := len(steps[0].review); n < 145_000 || n > 160_000 {
		t.Fatalf("big review is %d bytes, want about 150,000", n)
	}
	for _, s := range steps {
		var err error
		st, err = c.SyncReview(context.Background(), sha, "t", s.review, "status", false, st)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		bodies := []string{f.Issue(1).Body}
		var ids []int64
		for _, cm := range f.Comments(1) {
			if _, ok := partIndex(cm.Body); ok {
				bodies = append(bodies, cm.Body)
				ids = append(ids, cm.ID)
			}
		}
		if len(bodies) != s.wantParts {
			t.Fatalf("%s: %d parts, want %d", s.name, len(bodies), s.wantParts)
		}
		if diff := cmp.Diff(append([]int64{}, ids...), st.PartCommentIDs); diff != "" {
			t.Errorf("%s: PartCommentIDs (-comments +state):\n%s", s.name, diff)
		}
		for i, b := range bodies {
			if len(b) > maxBody || utf8.RuneCountInString(b) > maxBody {
				t.Errorf("%s: part %d is %d bytes, over the limit", s.name, i+1, len(b))
			}
			if nextFenceAll(b) != (fence{}) {
				t.Errorf("%s: part %d leaves a code block open", s.name, i+1)
			}
		}
		if got := unframe(bodies); got != s.review {
			t.Errorf("%s: review lost in the split: got %d bytes, want %d", s.name, len(got), len(s.review))
		}
		deletes := 0
		for _, call := range f.TakeCalls() {
			if strings.HasPrefix(call, "DELETE ") {
				deletes++
			}
		}
		if deletes != s.wantDeletes {
			t.Errorf("%s: %d comments deleted, want %d", s.name, deletes, s.wantDeletes)
		}
	}
}

// nextFenceAll is the block state at the end of s.
func nextFenceAll(s string) fence {
	var st fence
	for _, line := range strings.SplitAfter(s, "\n") {
		st = nextFence(st, line)
	}
	return st
}

func TestSyncReviewRejectsBadCommit(t *testing.T) {
	f := githubtest.New(t)
	for _, bad := range []string{"", "0123456", strings.ToUpper(sha), sha + "0"} {
		if _, err := newClient(t, f).SyncReview(context.Background(), bad, "t", "r", "s", false, IssueState{}); err == nil {
			t.Errorf("SyncReview(%q) succeeded", bad)
		}
	}
	if calls := f.TakeCalls(); len(calls) != 0 {
		t.Errorf("calls made: %v", calls)
	}
}

func TestSyncReviewRefusesAnotherCommitsIssue(t *testing.T) {
	f := githubtest.New(t)
	f.AddIssue(commitMarker(other)+"\nreview", "open", "balcony")
	_, err := newClient(t, f).SyncReview(context.Background(), sha, "t", "r", "s", false, IssueState{Number: 1})
	if err == nil || !strings.Contains(err.Error(), other) {
		t.Errorf("err = %v, want one naming commit %s", err, other)
	}
}

// A status longer than a comment is split over several status comments,
// never cut: every group id is on GitHub. They grow and shrink with it,
// and none of them reads as an approval.
func TestSyncReviewSplitsLongStatus(t *testing.T) {
	f := githubtest.New(t)
	c := newClient(t, f)
	big, ids := bigStatus(2_000)
	bigger, _ := bigStatus(4_000)
	st := IssueState{}
	steps := []struct {
		name   string
		status string
		want   int // status comments
	}{
		{"over the limit: split", big, len(statusBodies(big))},
		{"longer", bigger, len(statusBodies(bigger))},
		{"fits again: parts deleted", "approved by @statler", 1},
		{"long again", big, len(statusBodies(big))},
	}
	if steps[0].want < 2 || steps[1].want <= steps[0].want {
		t.Fatalf("statuses make %d and %d comments, want several, then more", steps[0].want, steps[1].want)
	}
	for _, s := range steps {
		var err error
		st, err = c.SyncReview(context.Background(), sha, "t", "review", s.status, false, st)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		var bodies []string
		var partIDs []int64
		for _, cm := range f.Comments(1) {
			switch _, part := statusPartIndex(cm.Body); {
			case strings.HasPrefix(cm.Body, statusMarker):
				bodies = append([]string{cm.Body}, bodies...)
				if cm.ID != st.StatusCommentID {
					t.Errorf("%s: status comment %d, state says %d", s.name, cm.ID, st.StatusCommentID)
				}
			case part:
				bodies = append(bodies, cm.Body)
				partIDs = append(partIDs, cm.ID)
			}
		}
		if len(bodies) != s.want {
			t.Fatalf("%s: %d status comments, want %d", s.name, len(bodies), s.want)
		}
		if diff := cmp.Diff(partIDs, st.StatusPartCommentIDs); diff != "" {
			t.Errorf("%s: StatusPartCommentIDs (-comments +state):\n%s", s.name, diff)
		}
		for i, b := range bodies {
			if len(b) > maxBody {
				t.Errorf("%s: status comment %d is %d bytes", s.name, i+1, len(b))
			}
		}
		if s.status == big {
			assertEveryID(t, bodies, ids)
		}
		if people, err := c.Comments(context.Background(), 1); err != nil || len(people) != 0 {
			t.Errorf("%s: people's comments = %v, %v; want none (status parts are balcony's)", s.name, people, err)
		}
	}
}
