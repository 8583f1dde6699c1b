package main

import (
	"bytes"
	"strings"
	"testing"
)

// serverFlags configure the bus a daemon embeds or provisions: a client
// verb has no use for them.
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

func TestDaemonTakesServerFlags(t *testing.T) {
	text := help(t)
	for _, f := range append(serverFlags, "--nats-url", "--nats-creds", "--log-format") {
		if !strings.Contains(text, f) {
			t.Errorf("approver --help does not list %s:\n%s", f, text)
		}
	}
}

func TestVerbsTakeClientFlagsOnly(t *testing.T) {
	for _, verb := range []string{"status", "approve", "revoke"} {
		t.Run(verb, func(t *testing.T) {
			text := help(t, verb)
			for _, f := range serverFlags {
				if strings.Contains(text, f) {
					t.Errorf("approver %s --help lists the server flag %s:\n%s", verb, f, text)
				}
			}
			for _, f := range []string{"--nats-url", "--nats-creds", "--log-level"} {
				if !strings.Contains(text, f) {
					t.Errorf("approver %s --help does not list %s", verb, f)
				}
			}
			for _, f := range serverFlags {
				root := newRoot()
				root.SetOut(&bytes.Buffer{})
				root.SetErr(&bytes.Buffer{})
				root.SetArgs([]string{verb, f + "=1", "--as", "kermit", "0123abc"})
				if err := root.Execute(); err == nil || !strings.Contains(err.Error(), "unknown flag: "+f) {
					t.Errorf("approver %s %s: got %v, want an unknown flag", verb, f, err)
				}
			}
		})
	}
}
