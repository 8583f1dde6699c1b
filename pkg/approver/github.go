package approver

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
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
// status (st's record must be evaluated). A failure is remembered in the
// record and retried by the poll loop: GitHub being down never blocks an
// approval from another source.
func (a *Approver) syncGitHub(ctx context.Context, st *state, col *nooper.Collection) {
	rec := st.rec
	if a.opts.GitHub == nil || !st.ready || len(st.groups) == 0 && rec.GitHub.Number == 0 {
		return
	}
	doc := review.Markdown(col.Document())
	status := review.ApprovalMarkdown(approvalView(st))
	sum := sha256.Sum256([]byte(doc + "\x00" + status))
	digest := hex.EncodeToString(sum[:])
	if digest == rec.GitHubSynced {
		return
	}
	title := fmt.Sprintf("balcony: %s %s", short(rec.Commit.SHA), rec.Commit.Subject)
	issue, err := a.opts.GitHub.SyncReview(ctx, rec.Commit.SHA, title, doc, status, rec.Status.Approved, rec.GitHub)
	if err != nil {
		a.log.Warn().Err(err).Str("commit", rec.Commit.SHA).Msg("GitHub review issue not updated; retrying later")
		rec.GitHubSynced = ""
		return
	}
	rec.GitHub, rec.GitHubSynced = issue, digest
}

func approvalView(st *state) review.ApprovalView {
	v := review.ApprovalView{Commit: st.rec.Commit, Ready: st.ready, Status: st.rec.Status, Approvals: st.rec.Approvals}
	for _, g := range st.groups {
		v.Groups = append(v.Groups, review.ApprovalGroup{ID: g.ID, Resource: g.Resource.ID, Hosts: g.Hosts})
	}
	return v
}

// takeComments records the approvals among comments on the commit's
// issue, each comment once, bound to the groups as they are now.
func (a *Approver) takeComments(ctx context.Context, sha string, comments []github.Comment) error {
	_, err := a.update(ctx, sha, func(st *state) error {
		for _, c := range comments {
			if st.rec.SeenComments[c.ID] {
				continue
			}
			if st.rec.SeenComments == nil {
				st.rec.SeenComments = map[int64]bool{}
			}
			st.rec.SeenComments[c.ID] = true
			if !github.IsApproval(c.Body) || !st.ready {
				continue
			}
			st.rec.Approvals = append(st.rec.Approvals, owners.Approval{
				Commit: st.rec.Commit.SHA, By: owners.Normalize(c.Login), Source: owners.SourceGitHub,
				At: c.CreatedAt.UTC(), Groups: owners.Digests(st.groups),
			})
			a.log.Info().Str("commit", st.rec.Commit.SHA).Str("by", c.Login).Int64("comment", c.ID).Msg("approval from GitHub")
		}
		return nil
	})
	return err
}

// consumeComments reads the issue comments the committer's webhook
// endpoint verified and put on the bus.
func (a *Approver) consumeComments(ctx context.Context) (jetstream.ConsumeContext, error) {
	cons, err := a.conn.JS.CreateOrUpdateConsumer(ctx, "GITHUB", jetstream.ConsumerConfig{
		Durable:       a.opts.Durable + "-github",
		Description:   "approver: GitHub issue comments",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       time.Minute,
		MaxAckPending: 1,
		FilterSubject: "balcony.github.comment",
		MaxDeliver:    -1,
	})
	if err != nil {
		return nil, err
	}
	return cons.Consume(func(m jetstream.Msg) {
		var c protocol.GitHubComment
		err := bus.Unmarshal(m.Data(), &c)
		sha, ok := github.CommitOf(c.IssueBody)
		if err == nil && !ok {
			err = fmt.Errorf("%w: comment %d is not on a balcony issue", bus.ErrMalformed, c.CommentID)
		}
		if err != nil {
			a.conn.Reject(ctx, "approver", m.Subject(), err)
			_ = m.TermWithReason(err.Error())
			return
		}
		if c.Action == "deleted" {
			_ = m.Ack()
			return
		}
		err = a.takeComments(ctx, sha, []github.Comment{{ID: c.CommentID, Issue: c.Issue, Login: c.Login, Body: c.Body, CreatedAt: c.Time}})
		if err != nil && !errors.Is(err, nooper.ErrUnknownCommit) {
			a.log.Warn().Err(err).Int64("comment", c.CommentID).Msg("GitHub comment not processed; retrying")
			_ = m.NakWithDelay(5 * time.Second)
			return
		}
		_ = m.Ack()
	})
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
			rec, err := a.store.get(ctx, sha)
			if err != nil || rec == nil {
				continue
			}
			if rec.GitHubSynced == "" && len(rec.Status.Groups) > 0 {
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
			if err := a.takeComments(ctx, sha, comments); err != nil {
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
// team in the config's teams: wins). Called with a.mu held.
func (a *Approver) githubTeams(ctx context.Context, codeowners map[string][]byte, into map[string][]string) error {
	if a.opts.GitHub == nil {
		return nil
	}
	if a.teams == nil {
		a.teams = map[string]cachedTeam{}
	}
	now := a.opts.Now()
	for _, data := range codeowners {
		for _, m := range teamRef.FindAllStringSubmatch(string(data), -1) {
			name := owners.Normalize(m[1] + "/" + m[2])
			if _, done := into[name]; done {
				continue
			}
			if c, ok := a.teams[name]; ok && now.Sub(c.at) < teamTTL {
				into[name] = c.members
				continue
			}
			members, err := a.opts.GitHub.TeamMembers(ctx, m[1], m[2])
			if err != nil {
				return fmt.Errorf("members of %s: %w", name, err)
			}
			a.teams[name] = cachedTeam{members: members, at: now}
			into[name] = members
		}
	}
	return nil
}
