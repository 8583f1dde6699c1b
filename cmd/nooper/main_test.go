package main

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/balcony-dev/balcony/pkg/bus/bustest"
	"github.com/balcony-dev/balcony/pkg/daemon/clitest"
	"github.com/balcony-dev/balcony/pkg/gitrepo/gittest"
	"github.com/balcony-dev/balcony/pkg/protocol"
)

func TestDaemonTakesServerFlags(t *testing.T) {
	clitest.CheckFlags(t, newRoot, nil, slices.Concat(clitest.ServerFlags, []string{"--nats-url", "--nats-creds", "--log-format", "--metrics-listen"}), nil)
}

func TestVerbsTakeClientFlagsOnly(t *testing.T) {
	for _, verb := range []string{"show", "renoop", "tail"} {
		t.Run(verb, func(t *testing.T) { clitest.CheckClientVerb(t, newRoot, verb, "0123abc") })
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
	code := gittest.New(t)
	code.Commit("first", nil)
	code.Push("main")
	root.SetArgs([]string{"--nats-url", srv.URL(), "--provision=false", "--log-format", "json", "--repo", code.Bare, "--state-dir", t.TempDir()})
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

// The nooper reads pushed commits from its mirror: it does not start
// without a repository.
func TestRepoIsRequired(t *testing.T) {
	t.Setenv("BALCONY_NATS_URL", "")
	root := newRoot()
	root.SetOut(&bytes.Buffer{})
	root.SetErr(&bytes.Buffer{})
	root.SetArgs([]string{"--nats-url", "nats://127.0.0.1:1", "--state-dir", t.TempDir()})
	err := root.ExecuteContext(context.Background())
	if err == nil || !strings.Contains(err.Error(), "--repo is required") {
		t.Fatalf("got %v, want --repo required", err)
	}
}

// tail reads a stream through the bus flags every verb has.
func TestTailReadsAStream(t *testing.T) {
	srv := bustest.Start(t)
	if err := srv.Announce(context.Background(), "ev-1", protocol.Event{Type: "noop.ready", Text: "ready"}); err != nil {
		t.Fatal(err)
	}
	out, err := clitest.Run(newRoot, "tail", "--nats-url", srv.URL(), "balcony.event.>", "--all", "--no-follow")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, `"stream":"EVENTS","seq":1,"subject":"balcony.event.noop.ready"`) || !strings.Contains(out, `"Nats-Msg-Id":"ev-1"`) {
		t.Errorf("tail printed %s", out)
	}
}
