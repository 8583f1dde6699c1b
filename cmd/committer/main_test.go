package main

import (
	"bytes"
	"strings"
	"testing"
)

// serverFlags configure the bus a daemon embeds or provisions.
var serverFlags = []string{"--embedded", "--data-dir", "--listen", "--no-sync-always", "--provision"}

// help runs the command line args --help in-process and returns its text.
func help(t *testing.T, args ...string) string {
	t.Helper()
	root := newRoot()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(append(args, "--help"))
	if err := root.Execute(); err != nil {
		t.Fatalf("%v --help: %v", args, err)
	}
	return out.String()
}

// The hook and install-hook reach a running bus; watch and serve are
// daemons and may embed it.
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
			text := help(t, tt.verb)
			for _, f := range serverFlags {
				if strings.Contains(text, f) != tt.server {
					t.Errorf("committer %s --help lists %s: %v, want %v:\n%s", tt.verb, f, !tt.server, tt.server, text)
				}
			}
			for _, f := range []string{"--nats-url", "--nats-creds", "--log-level"} {
				if !strings.Contains(text, f) {
					t.Errorf("committer %s --help does not list %s", tt.verb, f)
				}
			}
		})
	}
}
