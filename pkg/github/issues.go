package github

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"

	gh "github.com/google/go-github/v60/github"
)

// maxTitle is GitHub's limit on an issue title, in characters.
const maxTitle = 256

// IssueState is what SyncReview leaves on GitHub for one commit. The caller
// stores it and passes it back at the next sync; the zero value is fine
// (the issue and comments are then found by their markers). Its msgpack
// names are the Go field names msgpack wrote before they were tagged, kept
// so that stored approval records decode.
type IssueState struct {
	Number          int     `msgpack:"Number"`          // the issue
	StatusCommentID int64   `msgpack:"StatusCommentID"` // the status comment
	PartCommentIDs  []int64 `msgpack:"PartCommentIDs"`  // comments holding review parts 2..n, in order
	Closed          bool    `msgpack:"Closed"`          // closed because the commit is approved
	// StatusPartCommentIDs hold status parts 2..n, in order; nil when the
	// status fits in its one comment.
	StatusPartCommentIDs []int64 `msgpack:"StatusPartCommentIDs,omitempty"`
}

// SyncReview makes the commit's review issue show review and status
// (markdown), open when approved is false and closed when it is true. prev
// is what the caller stored after the last sync (zero the first time).
//
// Exactly one issue exists per commit: with prev.Number zero (or its issue
// deleted), the issues carrying the label are listed, every page, and one
// whose body starts with the commit's marker is reused; only when none
// exists is an issue created, with the label. The review is never cut: what
// does not fit in the body goes to "Review, part k of n" comments, edited in
// place, created when missing and deleted when the review shrinks. One
// status comment is created once and then edited; nor is the status cut:
// what does not fit goes to "Status, part k of n" comments, handled as the
// review's. Nothing is written when GitHub already shows the wanted content
// and state.
//
// sha is a full lower-case commit id. On error, the returned state holds
// what is known so far (at least Number once the issue exists); storing it
// is safe, and a retry with it (or without it) converges.
func (c *Client) SyncReview(ctx context.Context, sha, title, review, status string, approved bool, prev IssueState) (IssueState, error) {
	if !shaRe.MatchString(sha) {
		return prev, fmt.Errorf("github: sync review: commit %q: want a full lower-case hex id", sha)
	}
	parts := splitReview(review, partBudget)
	body := issueBody(sha, parts)
	title = issueTitle(title, sha)

	issue, created, err := c.issueFor(ctx, sha, title, body, prev.Number)
	if err != nil {
		return prev, fmt.Errorf("github: sync review of %s: %w", sha, err)
	}
	st := IssueState{Number: issue.GetNumber(), StatusCommentID: prev.StatusCommentID, Closed: issue.GetState() == "closed"}
	var comments []*gh.IssueComment
	if !created {
		if comments, err = c.listComments(ctx, st.Number); err != nil {
			return st, fmt.Errorf("github: sync review of %s: %w", sha, err)
		}
	}
	reviewParts := make([]string, 0, len(parts)-1)
	for k := 2; k <= len(parts); k++ {
		reviewParts = append(reviewParts, partCommentBody(k, parts))
	}
	if st.PartCommentIDs, err = c.syncParts(ctx, st.Number, "review", reviewParts, partIndex, comments, prev.PartCommentIDs); err != nil {
		return st, fmt.Errorf("github: sync review of %s: %w", sha, err)
	}
	statuses := statusBodies(status)
	if st.StatusCommentID, err = c.syncStatus(ctx, st.Number, statuses[0], comments, prev.StatusCommentID); err != nil {
		return st, fmt.Errorf("github: sync review of %s: %w", sha, err)
	}
	st.StatusPartCommentIDs, err = c.syncParts(ctx, st.Number, "status", statuses[1:], statusPartIndex, comments, prev.StatusPartCommentIDs)
	if len(st.StatusPartCommentIDs) == 0 {
		st.StatusPartCommentIDs = nil
	}
	if err != nil {
		return st, fmt.Errorf("github: sync review of %s: %w", sha, err)
	}
	if st.Closed, err = c.syncIssue(ctx, issue, title, body, approved); err != nil {
		return st, fmt.Errorf("github: sync review of %s: %w", sha, err)
	}
	return st, nil
}

// issueFor returns the commit's issue: number when it still exists, else
// the labelled issue with the commit's marker, else a new one (created).
func (c *Client) issueFor(ctx context.Context, sha, title, body string, number int) (issue *gh.Issue, created bool, err error) {
	if number != 0 {
		issue, resp, err := c.gh.Issues.Get(ctx, c.owner, c.repo, number)
		switch {
		case err == nil:
			if got, ok := CommitOf(issue.GetBody()); ok && got != sha {
				return nil, false, fmt.Errorf("issue %s#%d is the review of commit %s", c.Repo(), number, got)
			}
			return issue, false, nil
		case resp == nil || (resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusGone):
			return nil, false, fmt.Errorf("get issue %s#%d: %w", c.Repo(), number, err)
		}
		// Deleted or transferred: look for another, else create.
	}
	if issue, err = c.findIssue(ctx, sha); err != nil || issue != nil {
		return issue, false, err
	}
	labels := []string{c.label}
	issue, _, err = c.gh.Issues.Create(ctx, c.owner, c.repo, &gh.IssueRequest{Title: &title, Body: &body, Labels: &labels})
	if err != nil {
		return nil, false, fmt.Errorf("create issue in %s: %w", c.Repo(), err)
	}
	return issue, true, nil
}

// findIssue returns the oldest issue with the label whose body carries the
// commit's marker, reading every page until it is found; nil when none.
func (c *Client) findIssue(ctx context.Context, sha string) (*gh.Issue, error) {
	opts := &gh.IssueListByRepoOptions{
		Labels: []string{c.label}, State: "all", Sort: "created", Direction: "asc",
		ListOptions: gh.ListOptions{PerPage: perPage},
	}
	for {
		issues, resp, err := c.gh.Issues.ListByRepo(ctx, c.owner, c.repo, opts)
		if err != nil {
			return nil, fmt.Errorf("list issues labelled %q in %s (page %d): %w", c.label, c.Repo(), max(opts.Page, 1), err)
		}
		for _, is := range issues {
			if got, ok := CommitOf(is.GetBody()); ok && got == sha && !is.IsPullRequest() {
				return is, nil
			}
		}
		if resp.NextPage == 0 {
			return nil, nil
		}
		opts.Page = resp.NextPage
	}
}

// syncParts makes comments hold parts 2..n of the review or of the status
// (what), bodies[k-2] being part k, and returns their ids. A part comment
// is known by its marker (index reads it); of two with the same part the
// one in prevIDs (else the older) is kept and the other deleted, like parts
// beyond n.
func (c *Client) syncParts(ctx context.Context, issue int, what string, bodies []string, index func(string) (int, bool), comments []*gh.IssueComment, prevIDs []int64) ([]int64, error) {
	n := len(bodies) + 1
	have := map[int]*gh.IssueComment{}
	var surplus []*gh.IssueComment
	for _, ic := range comments {
		k, ok := index(ic.GetBody())
		switch {
		case !ok:
			continue
		case k > n:
			surplus = append(surplus, ic)
		case have[k] == nil:
			have[k] = ic
		case slices.Contains(prevIDs, ic.GetID()) && !slices.Contains(prevIDs, have[k].GetID()):
			surplus, have[k] = append(surplus, have[k]), ic
		default:
			surplus = append(surplus, ic)
		}
	}
	ids := []int64{}
	for k := 2; k <= n; k++ {
		id, err := c.putComment(ctx, issue, have[k], bodies[k-2])
		if err != nil {
			return ids, fmt.Errorf("%s part %d of %d: %w", what, k, n, err)
		}
		ids = append(ids, id)
	}
	for _, ic := range surplus {
		if _, err := c.gh.Issues.DeleteComment(ctx, c.owner, c.repo, ic.GetID()); err != nil {
			return ids, fmt.Errorf("delete surplus %s part comment %d on %s#%d: %w", what, ic.GetID(), c.Repo(), issue, err)
		}
	}
	return ids, nil
}

// syncStatus makes one status comment show body and returns its id: the
// comment prevID if it is a status comment, else the oldest one, else a new
// one. Other status comments (left by a crash, say) are deleted.
func (c *Client) syncStatus(ctx context.Context, issue int, body string, comments []*gh.IssueComment, prevID int64) (int64, error) {
	var keep *gh.IssueComment
	var extra []*gh.IssueComment
	for _, ic := range comments {
		if !strings.HasPrefix(ic.GetBody(), statusMarker) {
			continue
		}
		switch {
		case keep == nil:
			keep = ic
		case ic.GetID() == prevID:
			extra, keep = append(extra, keep), ic
		default:
			extra = append(extra, ic)
		}
	}
	id, err := c.putComment(ctx, issue, keep, body)
	if err != nil {
		return 0, fmt.Errorf("status comment: %w", err)
	}
	for _, ic := range extra {
		if _, err := c.gh.Issues.DeleteComment(ctx, c.owner, c.repo, ic.GetID()); err != nil {
			return id, fmt.Errorf("delete duplicate status comment %d on %s#%d: %w", ic.GetID(), c.Repo(), issue, err)
		}
	}
	return id, nil
}

// putComment makes existing (or a new comment when nil) show body, writing
// only when it differs, and returns the comment's id.
func (c *Client) putComment(ctx context.Context, issue int, existing *gh.IssueComment, body string) (int64, error) {
	if existing != nil {
		if existing.GetBody() == body {
			return existing.GetID(), nil
		}
		if _, _, err := c.gh.Issues.EditComment(ctx, c.owner, c.repo, existing.GetID(), &gh.IssueComment{Body: &body}); err != nil {
			return 0, fmt.Errorf("edit comment %d on %s#%d: %w", existing.GetID(), c.Repo(), issue, err)
		}
		return existing.GetID(), nil
	}
	created, _, err := c.gh.Issues.CreateComment(ctx, c.owner, c.repo, issue, &gh.IssueComment{Body: &body})
	if err != nil {
		return 0, fmt.Errorf("create comment on %s#%d: %w", c.Repo(), issue, err)
	}
	return created.GetID(), nil
}

// syncIssue edits the issue's title, body, label and state where they
// differ from what GitHub has, in one request or none, and reports whether
// the issue is now closed.
func (c *Client) syncIssue(ctx context.Context, issue *gh.Issue, title, body string, approved bool) (bool, error) {
	var req gh.IssueRequest
	changed := false
	if issue.GetTitle() != title {
		req.Title, changed = &title, true
	}
	if issue.GetBody() != body {
		req.Body, changed = &body, true
	}
	var labels []string
	for _, l := range issue.Labels {
		labels = append(labels, l.GetName())
	}
	if !slices.Contains(labels, c.label) {
		labels = append(labels, c.label)
		req.Labels, changed = &labels, true
	}
	state, reason := "open", "reopened"
	if approved {
		state, reason = "closed", "completed"
	}
	if issue.GetState() != state {
		req.State, req.StateReason, changed = &state, &reason, true
	}
	if !changed {
		return issue.GetState() == "closed", nil
	}
	edited, _, err := c.gh.Issues.Edit(ctx, c.owner, c.repo, issue.GetNumber(), &req)
	if err != nil {
		return issue.GetState() == "closed", fmt.Errorf("edit issue %s#%d: %w", c.Repo(), issue.GetNumber(), err)
	}
	return edited.GetState() == "closed", nil
}

// issueTitle is title on one line within GitHub's limit; a default names
// the commit when title is blank.
func issueTitle(title, sha string) string {
	title = strings.Join(strings.Fields(title), " ")
	if title == "" {
		return "balcony review of " + sha[:12]
	}
	if utf8.RuneCountInString(title) <= maxTitle {
		return title
	}
	r := []rune(title)
	return string(r[:maxTitle-1]) + "…"
}
