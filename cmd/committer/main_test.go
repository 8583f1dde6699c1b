package main

import (
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/balcony-dev/balcony/pkg/daemon/clitest"
)

// The hook and install-hook reach a running bus; watch and serve are
// daemons and may embed it, and serve metrics.
func TestBusFlagsPerVerb(t *testing.T) {
	tests := []struct {
		verb   string
		server bool
	}{
		{"hook", false},
		{"install-hook", false},
		{"watch", true},
		{"serve", true},
	}
	for _, tt := range tests {
		t.Run(tt.verb, func(t *testing.T) {
			if tt.server {
				clitest.CheckFlags(t, newRoot, []string{tt.verb}, slices.Concat(clitest.ClientFlags, clitest.ServerFlags, []string{"--metrics-listen"}), nil)
			} else {
				clitest.CheckFlags(t, newRoot, []string{tt.verb}, clitest.ClientFlags, slices.Concat(clitest.ServerFlags, []string{"--metrics-listen"}))
			}
		})
	}
}

// serve needs at least one endpoint, and both of the webhook's flags or
// neither; it says so before reaching for the repository or the bus.
func TestServeEndpoints(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(secret, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"neither endpoint", nil, "nothing to serve"},
		{"webhook without its secret", []string{"--github-repo", "muppets/puppet"}, "--webhook-secret-file is required"},
		{"webhook without its repository", []string{"--webhook-secret-file", secret}, "--github-repo owner/name is required"},
		{"empty token", []string{"--trigger-token-file", empty}, "is empty"},
		{"missing token file", []string{"--trigger-token-file", filepath.Join(dir, "none")}, "--trigger-token-file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := newRoot()
			root.SetArgs(append([]string{"serve", "--repo", dir, "--nats-url", "nats://127.0.0.1:1"}, tc.args...))
			root.SetOut(io.Discard)
			root.SetErr(io.Discard)
			err := root.Execute()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("serve %v: %v, want an error saying %q", tc.args, err, tc.want)
			}
		})
	}
}
