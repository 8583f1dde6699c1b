package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/balcony-dev/balcony/pkg/bus/bustest"
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
			t.Errorf("nooper --help does not list %s:\n%s", f, text)
		}
	}
}

func TestVerbsTakeClientFlagsOnly(t *testing.T) {
	for _, verb := range []string{"show", "renoop"} {
		t.Run(verb, func(t *testing.T) {
			text := help(t, verb)
			for _, f := range serverFlags {
				if strings.Contains(text, f) {
					t.Errorf("nooper %s --help lists the server flag %s:\n%s", verb, f, text)
				}
			}
			for _, f := range []string{"--nats-url", "--nats-creds", "--log-level"} {
				if !strings.Contains(text, f) {
					t.Errorf("nooper %s --help does not list %s", verb, f)
				}
			}
			for _, f := range serverFlags {
				root := newRoot()
				root.SetOut(&bytes.Buffer{})
				root.SetErr(&bytes.Buffer{})
				root.SetArgs([]string{verb, f + "=1", "0123abc"})
				if err := root.Execute(); err == nil || !strings.Contains(err.Error(), "unknown flag: "+f) {
					t.Errorf("nooper %s %s: got %v, want an unknown flag", verb, f, err)
				}
			}
		})
	}
}

// A daemon that fails says so once: cobra prints the error, nothing logs it
// as well.
func TestFailureIsPrintedOnce(t *testing.T) {
	srv := bustest.Start(t)
	// Without COMMITS the nooper starts, then cannot consume.
	if err := srv.JS.DeleteStream(context.Background(), "COMMITS"); err != nil {
		t.Fatal(err)
	}
	t.Setenv("BALCONY_NATS_URL", "")
	root := newRoot()
	var stderr bytes.Buffer
	root.SetOut(&bytes.Buffer{})
	root.SetErr(&stderr)
	root.SetArgs([]string{"--nats-url", srv.URL(), "--provision=false", "--log-format", "json"})
	// Should the nooper start after all, the deadline stops it (and the
	// test fails: no error).
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := root.ExecuteContext(ctx)
	if err == nil || !strings.Contains(err.Error(), "stream not found") {
		t.Fatalf("got %v, want a failure to consume COMMITS", err)
	}
	if n := strings.Count(stderr.String(), err.Error()); n != 1 {
		t.Errorf("the error is printed %d times:\n%s", n, stderr.String())
	}
}
