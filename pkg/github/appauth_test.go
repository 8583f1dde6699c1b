package github

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"

	"github.com/balcony-dev/balcony/pkg/github/githubtest"
)

func TestAppAuth(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	tests := []struct {
		name      string
		ttl       time.Duration // lifetime of the tokens the server hands out
		wantAuths []string      // Authorization of the two API calls
	}{
		{"cached across calls", time.Hour, []string{"token ghs_installation1", "token ghs_installation1"}},
		{"renewed within a minute of expiry", 30 * time.Second, []string{"token ghs_installation1", "token ghs_installation2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := githubtest.New(t)
			f.SetTokenTTL(tt.ttl)
			f.SetTeam("muppets", "ops", "kermit")
			c, err := New(Options{BaseURL: f.URL, Owner: "muppets", Repo: "puppet", AppID: 42, InstallationID: 7, PrivateKeyPEM: keyPEM}, f.HTTPClient())
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			for range 2 {
				if _, err := c.TeamMembers(context.Background(), "muppets", "ops"); err != nil {
					t.Fatal(err)
				}
			}
			var auths, paths []string
			for _, call := range f.Calls() {
				if strings.HasSuffix(call.Path, "/members") {
					auths = append(auths, call.Auth)
				} else {
					paths = append(paths, call.String())
				}
			}
			if diff := cmp.Diff(tt.wantAuths, auths); diff != "" {
				t.Errorf("API calls' Authorization (-want +got):\n%s", diff)
			}
			if len(paths) != len(f.JWTs()) || paths[0] != "POST /app/installations/7/access_tokens" {
				t.Errorf("token calls %v for %d JWTs", paths, len(f.JWTs()))
			}
			for _, signed := range f.JWTs() {
				var claims jwt.RegisteredClaims
				_, err := jwt.ParseWithClaims(signed, &claims, func(*jwt.Token) (any, error) { return &key.PublicKey, nil },
					jwt.WithValidMethods([]string{"RS256"}), jwt.WithIssuer("42"), jwt.WithExpirationRequired())
				if err != nil {
					t.Fatalf("JWT does not verify with the App's public key: %v", err)
				}
				iat, exp := claims.IssuedAt.Time, claims.ExpiresAt.Time
				if d := start.Add(-time.Minute).Sub(iat); d < -2*time.Second || d > 2*time.Second {
					t.Errorf("iat %v, want a minute before %v", iat, start)
				}
				if d := exp.Sub(start); d < 9*time.Minute-2*time.Second || d > 9*time.Minute+2*time.Second {
					t.Errorf("exp %v, want 9 minutes after %v", exp, start)
				}
			}
		})
	}
}

// TestAppAuthExchangeFails: a PKCS#8 key is accepted; an installation the
// server does not know fails before any API call.
func TestAppAuthExchangeFails(t *testing.T) {
	f := githubtest.New(t)
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	c, err := New(Options{BaseURL: f.URL, Owner: "muppets", Repo: "puppet", AppID: 42, InstallationID: 8, PrivateKeyPEM: keyPEM}, f.HTTPClient())
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.TeamMembers(context.Background(), "muppets", "ops")
	if err == nil || !strings.Contains(err.Error(), "installation token") || !strings.Contains(err.Error(), "404") {
		t.Errorf("err = %v, want the failed token exchange", err)
	}
	if diff := cmp.Diff([]string{"POST /app/installations/8/access_tokens"}, f.TakeCalls()); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
}
