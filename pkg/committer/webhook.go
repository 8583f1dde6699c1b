package committer

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/balcony-dev/balcony/pkg/github"
	"github.com/balcony-dev/balcony/pkg/protocol"
)

// CommentPublisher puts a verified GitHub issue comment on the bus.
type CommentPublisher interface {
	PublishComment(ctx context.Context, c protocol.GitHubComment) error
}

// Webhook receives GitHub webhook deliveries. Every delivery's HMAC
// signature is checked first. A push to the configured repository is
// turned into a commit event exactly as the hook does it (the mirror is
// fetched, then the ref update handled); an issue comment is put on the
// bus for the approver. Other events are acknowledged and ignored.
type Webhook struct {
	Secret []byte
	// Repo is the repository's full name (owner/name): deliveries for
	// other repositories are refused.
	Repo      string
	Committer *Committer
	// Fetch updates the mirror the Committer reads before a push is
	// handled.
	Fetch    func(ctx context.Context) error
	Comments CommentPublisher
	Log      zerolog.Logger
	// Timeout bounds the handling of one delivery; default 30s.
	Timeout time.Duration
}

// ServeHTTP implements http.Handler.
func (w *Webhook) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(rw, "POST only", http.StatusMethodNotAllowed)
		return
	}
	event, payload, err := github.Verify(r, w.Secret)
	if err != nil {
		w.Log.Warn().Err(err).Str("remote", r.RemoteAddr).Msg("webhook delivery refused")
		status := http.StatusBadRequest
		if errors.Is(err, github.ErrSignature) {
			status = http.StatusUnauthorized
		}
		http.Error(rw, err.Error(), status)
		return
	}
	timeout := w.Timeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	log := w.Log.With().Str("event", event).Str("delivery", r.Header.Get("X-GitHub-Delivery")).Logger()
	status, msg := w.handle(ctx, log, event, payload)
	if status >= 400 {
		log.Warn().Int("status", status).Msg(msg)
	} else {
		log.Info().Int("status", status).Msg(msg)
	}
	rw.WriteHeader(status)
	fmt.Fprintln(rw, msg)
}

func (w *Webhook) handle(ctx context.Context, log zerolog.Logger, event string, payload []byte) (int, string) {
	switch event {
	case "ping":
		return http.StatusOK, "pong"
	case "push":
		ref, before, after, repo, err := github.ParsePush(payload)
		if err != nil {
			return http.StatusBadRequest, err.Error()
		}
		if !strings.EqualFold(repo, w.Repo) {
			return http.StatusUnprocessableEntity, fmt.Sprintf("push to %s, not %s", repo, w.Repo)
		}
		if err := w.Fetch(ctx); err != nil {
			return http.StatusServiceUnavailable, fmt.Sprintf("fetch: %v", err)
		}
		n, err := w.Committer.HandleUpdates(ctx, []RefUpdate{{Old: before, New: after, Ref: ref}})
		if err != nil {
			// GitHub redelivers on request; the next push or watch tick
			// publishes what is missing anyway.
			return http.StatusServiceUnavailable, err.Error()
		}
		return http.StatusAccepted, fmt.Sprintf("%d commit events published", n)
	case "issue_comment":
		c, action, issueBody, repo, err := github.ParseIssueComment(payload)
		if err != nil {
			return http.StatusBadRequest, err.Error()
		}
		if !strings.EqualFold(repo, w.Repo) {
			return http.StatusUnprocessableEntity, fmt.Sprintf("comment in %s, not %s", repo, w.Repo)
		}
		if _, ok := github.CommitOf(issueBody); !ok {
			return http.StatusOK, "not a balcony issue"
		}
		err = w.Comments.PublishComment(ctx, protocol.GitHubComment{
			Schema: protocol.SchemaVersion, Repo: repo, Issue: c.Issue, IssueBody: issueBody,
			CommentID: c.ID, Action: action, Login: c.Login, Body: c.Body, Time: c.CreatedAt,
		})
		if err != nil {
			return http.StatusServiceUnavailable, err.Error()
		}
		return http.StatusAccepted, "comment published"
	default:
		return http.StatusNoContent, "ignored"
	}
}
