// Package github is balcony's GitHub integration: one review issue per
// commit (the review split over the body and extra comments so that no noop
// is ever truncated, one status comment edited in place, the issue closed
// when the commit is approved and reopened when an approval lapses),
// approvals read from issue comments, team members for CODEOWNERS, and
// webhook verification and parsing.
//
// Every list call reads every page (heckler read only the first). The
// repository comes only from Options, never from a payload or a constant.
// The package does not log; every error is returned with its context.
//
// Authentication is a token or a GitHub App installation (a JWT signed with
// the App's key, exchanged for an installation token that is cached until a
// minute before it expires). BaseURL points at GitHub Enterprise Server.
package github

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	gh "github.com/google/go-github/v60/github"
)

// DefaultLabel is the label put on review issues when Options.Label is empty.
const DefaultLabel = "balcony"

// perPage is the page size asked of every list endpoint (GitHub's maximum).
const perPage = 100

// ErrSignature: a webhook delivery has no signature, a wrong one, or a body
// too large to verify. Answer it with 401 (or 413) and do not process it.
var ErrSignature = errors.New("webhook signature invalid")

// Options configures a Client. Owner and Repo are required; exactly one of
// Token or the App credentials (AppID, InstallationID, PrivateKeyPEM) must be
// set.
type Options struct {
	// BaseURL is the API base of a GitHub Enterprise Server, e.g.
	// https://ghe.example.com/api/v3/ ("api/v3/" is added when missing).
	// Empty means api.github.com.
	BaseURL string
	// Owner and Repo name the repository that holds the review issues. They
	// come only from configuration.
	Owner, Repo string
	// Token is a personal access or fine-grained token.
	Token string
	// AppID, InstallationID and PrivateKeyPEM (PKCS#1 or PKCS#8 RSA key)
	// authenticate as a GitHub App installation instead of Token.
	AppID, InstallationID int64
	PrivateKeyPEM         []byte
	// Label marks review issues; DefaultLabel when empty.
	Label string
}

// Client talks to one repository's issues and to its organisation's teams.
// It is safe for concurrent use, but two concurrent SyncReview calls for the
// same commit race (both may create the issue): serialise them per commit.
type Client struct {
	gh    *gh.Client
	owner string
	repo  string
	label string
}

// nameRe is what GitHub allows in an owner or repository name.
var nameRe = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

// New validates opts and returns a Client whose requests go through base
// (http.DefaultClient's settings when nil). It makes no request: App
// credentials are exchanged for a token at the first call.
func New(opts Options, base *http.Client) (*Client, error) {
	if !nameRe.MatchString(opts.Owner) || !nameRe.MatchString(opts.Repo) {
		return nil, fmt.Errorf("github: owner %q and repo %q: both required, letters, digits, '.', '-' or '_' only", opts.Owner, opts.Repo)
	}
	hasApp := opts.AppID != 0 || opts.InstallationID != 0 || len(opts.PrivateKeyPEM) > 0
	switch {
	case opts.Token != "" && hasApp:
		return nil, errors.New("github: both a token and App credentials given: want exactly one")
	case opts.Token == "" && !hasApp:
		return nil, errors.New("github: no credentials: want a token or App credentials")
	case hasApp && (opts.AppID <= 0 || opts.InstallationID <= 0 || len(opts.PrivateKeyPEM) == 0):
		return nil, errors.New("github: App credentials incomplete: want app id, installation id and private key")
	}
	label := opts.Label
	if label == "" {
		label = DefaultLabel
	}
	if strings.ContainsAny(label, ",\n") {
		return nil, fmt.Errorf("github: label %q: no commas or newlines", label)
	}

	// A hung GitHub must not hold the approver: every call is bounded.
	hc := http.Client{Timeout: 30 * time.Second}
	if base != nil {
		hc = *base
	}
	transport := hc.Transport
	if transport == nil {
		transport = http.DefaultTransport
	}
	var app *appTransport
	if hasApp {
		key, err := jwt.ParseRSAPrivateKeyFromPEM(opts.PrivateKeyPEM)
		if err != nil {
			return nil, fmt.Errorf("github: App private key: %w", err)
		}
		app = newAppTransport(transport, opts.AppID, key)
		hc.Transport = app
	}
	client := gh.NewClient(&hc)
	if opts.BaseURL != "" {
		var err error
		if client, err = client.WithEnterpriseURLs(opts.BaseURL, opts.BaseURL); err != nil {
			return nil, fmt.Errorf("github: base URL %q: %w", opts.BaseURL, err)
		}
	}
	if opts.Token != "" {
		client = client.WithAuthToken(opts.Token)
	}
	if app != nil {
		app.tokenURL = fmt.Sprintf("%sapp/installations/%d/access_tokens", client.BaseURL, opts.InstallationID)
	}
	return &Client{gh: client, owner: opts.Owner, repo: opts.Repo, label: label}, nil
}

// Repo returns "owner/repo", the repository the client works on; compare
// it with a webhook payload's repository before acting on the payload.
func (c *Client) Repo() string { return c.owner + "/" + c.repo }
