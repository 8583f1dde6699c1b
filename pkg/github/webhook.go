package github

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	gh "github.com/google/go-github/v60/github"
)

// MaxWebhookBody is the largest delivery Verify reads: GitHub caps webhook
// payloads at 25 MiB.
const MaxWebhookBody = 25 << 20

// Verify authenticates a webhook delivery and returns its event type
// (X-GitHub-Event) and JSON payload. The X-Hub-Signature-256 header must hold
// the HMAC-SHA256 of the body under secret, compared in constant time; the
// older SHA-1 header is not accepted. A missing or wrong signature, an empty
// secret, or a body over MaxWebhookBody gives an error wrapping ErrSignature;
// the body is read (and consumed) in any case.
func Verify(r *http.Request, secret []byte) (event string, payload []byte, err error) {
	if len(secret) == 0 {
		return "", nil, fmt.Errorf("github webhook: no secret configured: %w", ErrSignature)
	}
	sig := r.Header.Get(gh.SHA256SignatureHeader)
	if !strings.HasPrefix(sig, "sha256=") {
		return "", nil, fmt.Errorf("github webhook: missing %s header: %w", gh.SHA256SignatureHeader, ErrSignature)
	}
	if r.Body == nil {
		return "", nil, fmt.Errorf("github webhook: no body: %w", ErrSignature)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxWebhookBody+1))
	if err != nil {
		return "", nil, fmt.Errorf("github webhook: read body: %w", err)
	}
	if len(body) > MaxWebhookBody {
		return "", nil, fmt.Errorf("github webhook: body over %d bytes: %w", MaxWebhookBody, ErrSignature)
	}
	if err := gh.ValidateSignature(sig, body, secret); err != nil {
		return "", nil, fmt.Errorf("github webhook: %v: %w", err, ErrSignature)
	}
	event = gh.WebHookType(r)
	if event == "" {
		return "", nil, fmt.Errorf("github webhook: missing %s header", gh.EventTypeHeader)
	}
	contentType, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		return "", nil, fmt.Errorf("github webhook: content type: %w", err)
	}
	// The signature covers the raw body; for a form delivery the JSON is
	// its "payload" field.
	payload, err = gh.ValidatePayloadFromBody(contentType, bytes.NewReader(body), "", nil)
	if err != nil {
		return "", nil, fmt.Errorf("github webhook: %w", err)
	}
	return event, payload, nil
}

// ParsePush reads a push event: the ref pushed (refs/heads/main), the
// commits before and after, and the repository's owner/name. Compare
// repoFullName with Client.Repo before acting on it.
func ParsePush(payload []byte) (ref, before, after, repoFullName string, err error) {
	var ev gh.PushEvent
	if err := json.Unmarshal(payload, &ev); err != nil {
		return "", "", "", "", fmt.Errorf("github push event: %w", err)
	}
	ref, before, after, repoFullName = ev.GetRef(), ev.GetBefore(), ev.GetAfter(), ev.GetRepo().GetFullName()
	if ref == "" || after == "" || repoFullName == "" {
		return "", "", "", "", errors.New("github push event: ref, after or repository missing")
	}
	return ref, before, after, repoFullName, nil
}

// ParseIssueComment reads an issue_comment event: the comment (login
// lower-cased), the action (created, edited, deleted), the issue's body (give
// it to CommitOf) and the repository's owner/name. A comment on a pull
// request is returned like any other; its body has no commit marker.
func ParseIssueComment(payload []byte) (c Comment, action string, issueBody string, repoFullName string, err error) {
	var ev gh.IssueCommentEvent
	if err := json.Unmarshal(payload, &ev); err != nil {
		return Comment{}, "", "", "", fmt.Errorf("github issue_comment event: %w", err)
	}
	if ev.Comment == nil || ev.Issue == nil || ev.GetAction() == "" || ev.GetRepo().GetFullName() == "" {
		return Comment{}, "", "", "", errors.New("github issue_comment event: action, comment, issue or repository missing")
	}
	c = Comment{
		ID:        ev.Comment.GetID(),
		Issue:     ev.Issue.GetNumber(),
		Login:     strings.ToLower(ev.Comment.GetUser().GetLogin()),
		Body:      ev.Comment.GetBody(),
		CreatedAt: ev.Comment.GetCreatedAt().Time,
	}
	return c, ev.GetAction(), ev.Issue.GetBody(), ev.GetRepo().GetFullName(), nil
}
