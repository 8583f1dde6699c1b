package github

import (
	"strings"
	"testing"

	"github.com/balcony-dev/balcony/pkg/github/githubtest"
)

// newClient returns a token-authenticated Client for the fake's
// repository.
func newClient(t *testing.T, f *githubtest.Server) *Client {
	t.Helper()
	c, err := New(Options{BaseURL: f.URL, Owner: githubtest.Owner, Repo: githubtest.Repo, Token: "t0ken"}, f.HTTPClient())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestNewValidates(t *testing.T) {
	key := []byte("-----BEGIN RSA PRIVATE KEY-----\nnot a key\n-----END RSA PRIVATE KEY-----\n")
	tests := []struct {
		name    string
		opts    Options
		wantErr string // "" when valid
	}{
		{"token", Options{Owner: "muppets", Repo: "puppet", Token: "t"}, ""},
		{"enterprise", Options{BaseURL: "https://ghe.example.com/api/v3/", Owner: "muppets", Repo: "puppet.git-x_1", Token: "t"}, ""},
		{"no owner", Options{Repo: "puppet", Token: "t"}, "owner"},
		{"no repo", Options{Owner: "muppets", Token: "t"}, "repo"},
		{"slash in repo", Options{Owner: "muppets", Repo: "a/b", Token: "t"}, "repo"},
		{"no credentials", Options{Owner: "muppets", Repo: "puppet"}, "no credentials"},
		{"both", Options{Owner: "muppets", Repo: "puppet", Token: "t", AppID: 1, InstallationID: 2, PrivateKeyPEM: key}, "exactly one"},
		{"app without installation", Options{Owner: "muppets", Repo: "puppet", AppID: 1, PrivateKeyPEM: key}, "incomplete"},
		{"bad key", Options{Owner: "muppets", Repo: "puppet", AppID: 1, InstallationID: 2, PrivateKeyPEM: key}, "private key"},
		{"comma in label", Options{Owner: "muppets", Repo: "puppet", Token: "t", Label: "a,b"}, "label"},
		{"bad base URL", Options{BaseURL: "://x", Owner: "muppets", Repo: "puppet", Token: "t"}, "base URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(tt.opts, nil)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("err = %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("err = %v, want one about %q", err, tt.wantErr)
			case err == nil:
				if c.Repo() != tt.opts.Owner+"/"+tt.opts.Repo || c.label != DefaultLabel {
					t.Errorf("repo %q, label %q", c.Repo(), c.label)
				}
			}
		})
	}
}
