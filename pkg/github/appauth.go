package github

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const (
	// jwtBackdate and jwtLifetime follow GitHub's advice: iat 60 s in the
	// past against clock drift, exp at most 10 minutes ahead.
	jwtBackdate = 60 * time.Second
	jwtLifetime = 9 * time.Minute
	// tokenMargin: a cached installation token is renewed this long before
	// it expires, so no request goes out with a token about to lapse.
	tokenMargin = time.Minute
)

// appTransport authenticates each request as a GitHub App installation:
// it sends "Authorization: token <installation token>", exchanging a JWT
// for the token at the first request and again a minute before expiry.
type appTransport struct {
	base     http.RoundTripper
	tokenURL string // POST .../app/installations/{id}/access_tokens
	appID    int64
	key      *rsa.PrivateKey
	now      func() time.Time

	mu      sync.Mutex // held across a renewal, so only one runs at a time
	token   string
	expires time.Time
}

func newAppTransport(base http.RoundTripper, appID int64, key *rsa.PrivateKey) *appTransport {
	return &appTransport{base: base, appID: appID, key: key, now: time.Now}
}

// RoundTrip implements http.RoundTripper. It does not modify req.
func (t *appTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	token, err := t.installationToken(req.Context())
	if err != nil {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, err
	}
	req = req.Clone(req.Context())
	req.Header.Set("Authorization", "token "+token)
	return t.base.RoundTrip(req)
}

// installationToken returns the cached token or a fresh one.
func (t *appTransport) installationToken(ctx context.Context) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	if t.token != "" && now.Before(t.expires.Add(-tokenMargin)) {
		return t.token, nil
	}
	token, expires, err := t.exchange(ctx, now)
	if err != nil {
		return "", fmt.Errorf("github app %d: installation token: %w", t.appID, err)
	}
	t.token, t.expires = token, expires
	return token, nil
}

// exchange signs an App JWT and trades it for an installation token.
func (t *appTransport) exchange(ctx context.Context, now time.Time) (string, time.Time, error) {
	claims := jwt.RegisteredClaims{
		Issuer:    strconv.FormatInt(t.appID, 10),
		IssuedAt:  jwt.NewNumericDate(now.Add(-jwtBackdate)),
		ExpiresAt: jwt.NewNumericDate(now.Add(jwtLifetime)),
	}
	signed, err := jwt.NewWithClaims(jwt.SigningMethodRS256, claims).SignedString(t.key)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("sign jwt: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.tokenURL, nil)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+signed)
	req.Header.Set("Accept", "application/vnd.github+json")
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("post %s: %w", t.tokenURL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", time.Time{}, fmt.Errorf("read response: %w", err)
	}
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		return "", time.Time{}, fmt.Errorf("post %s: %s: %.200s", t.tokenURL, resp.Status, body)
	}
	var out struct {
		Token     string    `json:"token"`
		ExpiresAt time.Time `json:"expires_at"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return "", time.Time{}, fmt.Errorf("decode response: %w", err)
	}
	if out.Token == "" {
		return "", time.Time{}, fmt.Errorf("post %s: response has no token", t.tokenURL)
	}
	return out.Token, out.ExpiresAt, nil
}
