package github

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	gh "github.com/google/go-github/v60/github"
)

// Hidden markers: the first line of every body balcony writes.
const (
	commitMarkerPrefix = "<!-- balcony:commit:"
	partMarkerPrefix   = "<!-- balcony:part:"
	statusMarker       = "<!-- balcony:status -->"
	// statusPartPrefix starts the marker of status part k (2..n), when
	// the status does not fit in one comment.
	statusPartPrefix = "<!-- balcony:status:"
	markerSuffix     = " -->"
)

// shaRe is a full commit id: SHA-1 or SHA-256, lower-case hex.
var shaRe = regexp.MustCompile(`^(?:[0-9a-f]{40}|[0-9a-f]{64})$`)

func commitMarker(sha string) string { return commitMarkerPrefix + sha + markerSuffix }

func partMarker(k int) string { return partMarkerPrefix + strconv.Itoa(k) + markerSuffix }

func statusPartMarker(k int) string { return statusPartPrefix + strconv.Itoa(k) + markerSuffix }

// Comment is one comment on a review issue. Login is lower-cased, as
// TeamMembers and the owners package compare logins.
type Comment struct {
	ID        int64
	Issue     int
	Login     string
	Body      string
	CreatedAt time.Time
}

// Comments returns the people's comments on issue, every page, oldest
// first. balcony's own comments (status and review parts, known by their
// markers) are left out, so none of them is ever read as an approval.
func (c *Client) Comments(ctx context.Context, issue int) ([]Comment, error) {
	all, err := c.listComments(ctx, issue)
	if err != nil {
		return nil, err
	}
	var out []Comment
	for _, ic := range all {
		if IsOwn(ic.GetBody()) {
			continue
		}
		out = append(out, Comment{
			ID:        ic.GetID(),
			Issue:     issue,
			Login:     strings.ToLower(ic.GetUser().GetLogin()),
			Body:      ic.GetBody(),
			CreatedAt: ic.GetCreatedAt().Time,
		})
	}
	return out, nil
}

// listComments reads every page of issue's comments, oldest first.
func (c *Client) listComments(ctx context.Context, issue int) ([]*gh.IssueComment, error) {
	opts := &gh.IssueListCommentsOptions{ListOptions: gh.ListOptions{PerPage: perPage}}
	var all []*gh.IssueComment
	for {
		page, resp, err := c.gh.Issues.ListComments(ctx, c.owner, c.repo, issue, opts)
		if err != nil {
			return nil, fmt.Errorf("github: list comments of %s#%d (page %d): %w", c.Repo(), issue, max(opts.Page, 1), err)
		}
		all = append(all, page...)
		if resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	sort.SliceStable(all, func(i, j int) bool {
		a, b := all[i].GetCreatedAt().Time, all[j].GetCreatedAt().Time
		if !a.Equal(b) {
			return a.Before(b)
		}
		return all[i].GetID() < all[j].GetID()
	})
	return all, nil
}

// IsApproval reports whether a comment approves: after leading white space
// it starts with the word "approved", in any case ("Approved!", "APPROVED
// for fozzie"; not "approvedish", "not approved", "> approved").
func IsApproval(body string) bool {
	const word = "approved"
	s := strings.TrimLeftFunc(body, unicode.IsSpace)
	if len(s) < len(word) || !strings.EqualFold(s[:len(word)], word) {
		return false
	}
	next, _ := utf8.DecodeRuneInString(s[len(word):])
	return next == utf8.RuneError || !(unicode.IsLetter(next) || unicode.IsDigit(next) || next == '_')
}

// IsOwn reports whether body was written by balcony: an issue body, a
// review part or a status comment, all starting with a hidden marker.
func IsOwn(body string) bool {
	return strings.HasPrefix(body, commitMarkerPrefix) ||
		strings.HasPrefix(body, partMarkerPrefix) ||
		strings.HasPrefix(body, statusMarker) ||
		strings.HasPrefix(body, statusPartPrefix)
}

// CommitOf returns the commit a review issue is about, read from the
// marker that starts the body balcony wrote; ok is false when the body
// does not start with a well-formed marker (not a balcony issue, or edited).
func CommitOf(issueBody string) (sha string, ok bool) {
	rest, found := strings.CutPrefix(issueBody, commitMarkerPrefix)
	if !found {
		return "", false
	}
	sha, _, found = strings.Cut(rest, markerSuffix)
	if !found || !shaRe.MatchString(sha) {
		return "", false
	}
	return sha, true
}

// partIndex returns k for a body starting with the marker of review part k.
func partIndex(body string) (int, bool) { return markerIndex(body, partMarkerPrefix) }

// statusPartIndex returns k for a body starting with the marker of status
// part k.
func statusPartIndex(body string) (int, bool) { return markerIndex(body, statusPartPrefix) }

// markerIndex returns k (at least 2) for a body starting with prefix, k and
// the marker's end.
func markerIndex(body, prefix string) (int, bool) {
	rest, found := strings.CutPrefix(body, prefix)
	if !found {
		return 0, false
	}
	num, _, found := strings.Cut(rest, markerSuffix)
	if !found {
		return 0, false
	}
	k, err := strconv.Atoi(num)
	if err != nil || k < 2 {
		return 0, false
	}
	return k, true
}
