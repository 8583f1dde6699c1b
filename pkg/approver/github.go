package approver

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/github"
	"github.com/balcony-dev/balcony/pkg/nooper"
	"github.com/balcony-dev/balcony/pkg/owners"
	"github.com/balcony-dev/balcony/pkg/protocol"
	"github.com/balcony-dev/balcony/pkg/review"
)

// GitHub is what the approver needs of GitHub: one review issue per
// commit with changes, and the comments on it.
type GitHub interface {
	SyncReview(ctx context.Context, sha, title, review, status string, approved bool, prev github.IssueState) (github.IssueState, error)
	Comments(ctx context.Context, issue int) ([]github.Comment, error)
	TeamMembers(ctx context.Context, org, slug string) ([]string, error)
}

// syncGitHub makes the commit's review issue show its review and approval
// status, after an evaluation (st, of in) saved the record. A failure is
// remembered in the record and retried by the poll loop: GitHub being
// down never blocks an approval from another source.
//
// The syncs of one commit are serialized (one review issue per commit),
// and each shows the record as stored when it starts, not as st has it:
// an evaluation that saved later may have synced already, and the last
// sync to run then shows the last record saved. Nothing else waits on
// it: approvals and statuses of this commit and every other go on.
func (a *Approver) syncGitHub(ctx context.Context, st *state, in *inputs) {
	if a.opts.GitHub == nil || !st.ready || len(st.groups) == 0 && st.rec.GitHub.Number == 0 {
		return
	}
	sha := st.rec.Commit.SHA
	unlock, err := a.issues.lock(ctx, sha)
	if err != nil {
		return // stopping
	}
	defer unlock()
	rec, rev, err := a.store.get(ctx, sha)
	if err != nil {
		a.log.Warn().Err(err).Str("commit", sha).Msg("GitHub review issue not updated; retrying later")
		return
	}
	if rec == nil || rec.NoopDigest != in.digest {
		return // saved since from another delta, by an evaluation that syncs it
	}
	st = &state{rec: rec, groups: st.groups, withdrawn: st.withdrawn, ready: true, warnings: st.warnings}
	doc := review.Markdown(in.col.Document())
	reply := statusReply(st)
	view := reply.View()
	view.Changes = st.groups // folded as the review folds them
	status := review.ApprovalMarkdown(view)
	docSum := sha256.Sum256([]byte(doc))
	sum := sha256.Sum256([]byte(doc + "\x00" + status))
	digest := hex.EncodeToString(sum[:])
	if digest == rec.GitHubSynced {
		return
	}
	title := fmt.Sprintf("balcony: %s %s", protocol.Short(rec.Commit.SHA), rec.Commit.Subject)
	issue, err := a.opts.GitHub.SyncReview(ctx, rec.Commit.SHA, title, doc, status, rec.Status.Approved, rec.GitHub)
	synced := rec.GitHubSynced
	if issue.Number != 0 {
		rec.GitHub = issue // even a partial sync says which issue is the commit's
	}
	switch {
	case err != nil:
		a.log.Warn().Err(err).Str("commit", rec.Commit.SHA).Msg("GitHub review issue not updated; retrying later")
		synced = ""
	default:
		synced = digest
		if reviewDigest := hex.EncodeToString(docSum[:]); reviewDigest != rec.GitHubReview {
			// Comments on the issue until now approved what it showed
			// before, not this: remember the newest, by id (ids only
			// grow; clocks and GitHub's one-second times are not precise
			// enough).
			comments, err := a.opts.GitHub.Comments(ctx, issue.Number)
			if err != nil {
				a.log.Warn().Err(err).Str("commit", rec.Commit.SHA).Msg("GitHub comments not read; retrying later")
				synced = ""
				break
			}
			rec.GitHubReview, rec.GitHubCommentsBefore = reviewDigest, 0
			for _, c := range comments {
				rec.GitHubCommentsBefore = max(rec.GitHubCommentsBefore, c.ID)
			}
		}
	}
	// Only GitHub's fields are written: an evaluation saved meanwhile
	// keeps its approvals and status (and syncs them after this).
	gh, shown, before := rec.GitHub, rec.GitHubReview, rec.GitHubCommentsBefore
	err = a.store.modify(ctx, sha, rec, rev, func(cur *Record) {
		cur.GitHub, cur.GitHubSynced = gh, synced
		cur.GitHubReview, cur.GitHubCommentsBefore = shown, before
	})
	if err != nil {
		a.log.Warn().Err(err).Str("commit", sha).Msg("record the GitHub review issue")
	}
}

// takeComments records the approvals among comments on the commit's
// review issue, each comment once, bound to the groups as they are now. A
// comment on another issue never counts (anyone can open an issue with the
// commit's marker), nor one written before the issue showed the current
// review: its author approved something else. With complete set, comments
// is every comment of the issue, and an approval whose comment is gone
// (deleted) is withdrawn.
func (a *Approver) takeComments(ctx context.Context, sha string, issue int, comments []github.Comment, complete bool) error {
	_, err := a.update(ctx, sha, func(st *state) error {
		rec := st.rec
		if issue == 0 || issue != rec.GitHub.Number {
			a.log.Warn().Str("commit", rec.Commit.SHA).Int("issue", issue).Int("review_issue", rec.GitHub.Number).Msg("comments not on the commit's review issue are ignored")
			return nil
		}
		if complete {
			present := map[string]bool{}
			for _, c := range comments {
				present[commentRef(c.ID)] = true
			}
			withdrawIf(st, func(ap owners.Approval) bool { return strings.HasPrefix(ap.Ref, "github-comment:") && !present[ap.Ref] })
		}
		for _, c := range comments {
			if rec.SeenComments[c.ID] {
				continue
			}
			if rec.SeenComments == nil {
				rec.SeenComments = map[int64]bool{}
			}
			rec.SeenComments[c.ID] = true
			if !github.IsApproval(c.Body) || !st.ready {
				continue
			}
			if c.ID <= rec.GitHubCommentsBefore {
				a.log.Info().Str("commit", rec.Commit.SHA).Str("by", c.Login).Int64("comment", c.ID).Msg("approval written before the review changed; not counted")
				continue
			}
			rec.Approvals = append(rec.Approvals, owners.Approval{
				Commit: rec.Commit.SHA, By: owners.Normalize(c.Login), Source: owners.SourceGitHub,
				At: c.CreatedAt.UTC(), Groups: owners.Digests(st.groups), Ref: commentRef(c.ID),
			})
			a.log.Info().Str("commit", rec.Commit.SHA).Str("by", c.Login).Int64("comment", c.ID).Msg("approval from GitHub")
		}
		return nil
	})
	return err
}

// withdrawComment removes the approval a deleted comment gave.
func (a *Approver) withdrawComment(ctx context.Context, sha string, id int64) error {
	_, err := a.update(ctx, sha, func(st *state) error {
		withdrawIf(st, func(ap owners.Approval) bool { return ap.Ref == commentRef(id) })
		return nil
	})
	return err
}

func withdrawIf(st *state, gone func(owners.Approval) bool) {
	kept := st.rec.Approvals[:0]
	for _, ap := range st.rec.Approvals {
		if !gone(ap) {
			kept = append(kept, ap)
		}
	}
	st.rec.Approvals = kept
}

func commentRef(id int64) string { return fmt.Sprintf("github-comment:%d", id) }

// onComment handles an issue comment the committer's webhook endpoint
// verified and put on the bus.
func (a *Approver) onComment(ctx context.Context, m jetstream.Msg) error {
	var c protocol.GitHubComment
	if err := bus.Unmarshal(m.Data(), &c); err != nil {
		return err
	}
	sha, ok := github.CommitOf(c.IssueBody)
	if !ok {
		return fmt.Errorf("%w: comment %d is not on a balcony issue", bus.ErrMalformed, c.CommentID)
	}
	var err error
	if c.Action == "deleted" {
		err = a.withdrawComment(ctx, sha, c.CommentID)
	} else {
		err = a.takeComments(ctx, sha, c.Issue, []github.Comment{{ID: c.CommentID, Issue: c.Issue, Login: c.Login, Body: c.Body, CreatedAt: c.Time}}, false)
	}
	if errors.Is(err, nooper.ErrUnknownCommit) {
		return fmt.Errorf("%w: %v", bus.ErrSkip, err)
	}
	return err
}

// pollGitHub is the fallback when webhooks are lost: it reads every
// comment of each open review issue and retries failed issue updates.
func (a *Approver) pollGitHub(ctx context.Context) {
	t := time.NewTicker(a.opts.GitHubPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		keys, err := a.store.kv.ListKeys(ctx)
		if err != nil {
			a.log.Warn().Err(err).Msg("GitHub poll: list approvals")
			continue
		}
		for sha := range keys.Keys() {
			rec, _, err := a.store.get(ctx, sha)
			if err != nil || rec == nil {
				continue
			}
			if rec.GitHubSynced == "" && len(rec.Status.Groups) > 0 || len(rec.Pending) > 0 {
				if _, err := a.update(ctx, sha, nil); err != nil {
					a.log.Warn().Err(err).Str("commit", sha).Msg("GitHub poll: re-sync")
				}
			}
			if rec.GitHub.Number == 0 || rec.GitHub.Closed {
				continue
			}
			comments, err := a.opts.GitHub.Comments(ctx, rec.GitHub.Number)
			if err != nil {
				a.log.Warn().Err(err).Int("issue", rec.GitHub.Number).Msg("GitHub poll: comments")
				continue
			}
			if err := a.takeComments(ctx, sha, rec.GitHub.Number, comments, true); err != nil {
				a.log.Warn().Err(err).Str("commit", sha).Msg("GitHub poll: approvals")
			}
		}
	}
}

var teamRef = regexp.MustCompile(`@([A-Za-z0-9][A-Za-z0-9-]*)/([A-Za-z0-9._-]+)`)

// teamTTL is how long GitHub team members are cached: every evaluation
// needs them, and GitHub rate-limits its API.
const teamTTL = 10 * time.Minute

type cachedTeam struct {
	members []string
	at      time.Time
}

// githubTeams expands, through GitHub, the teams CODEOWNERS names (a
// team in the config's teams: wins). It returns when the first of the
// members read expire (zero when no team came from GitHub), and whether
// every team was read. GitHub is asked outside any lock.
func (a *Approver) githubTeams(ctx context.Context, codeowners map[string][]byte, into map[string][]string) (expires time.Time, complete bool) {
	complete = true
	if a.opts.GitHub == nil {
		return expires, complete
	}
	now := a.opts.Now()
	for _, data := range codeowners {
		for _, line := range strings.Split(string(data), "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), "#") {
				continue
			}
			for _, m := range teamRef.FindAllStringSubmatch(line, -1) {
				name := owners.Normalize(m[1] + "/" + m[2])
				if _, done := into[name]; done {
					continue
				}
				a.cacheMu.Lock()
				c, ok := a.teams[name]
				a.cacheMu.Unlock()
				if !ok || now.Sub(c.at) >= teamTTL {
					members, err := a.opts.GitHub.TeamMembers(ctx, m[1], m[2])
					if err != nil {
						// The team counts as empty (the review lists it as a
						// problem); other owners can still approve.
						a.log.Warn().Err(err).Str("team", name).Msg("GitHub team members unknown")
						complete = false
						continue
					}
					c = cachedTeam{members: members, at: now}
					a.cacheMu.Lock()
					if a.teams == nil {
						a.teams = map[string]cachedTeam{}
					}
					a.teams[name] = c
					a.cacheMu.Unlock()
				}
				into[name] = c.members
				if exp := c.at.Add(teamTTL); expires.IsZero() || exp.Before(expires) {
					expires = exp
				}
			}
		}
	}
	return expires, complete
}
