package tail

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/bus/bustest"
	"github.com/balcony-dev/balcony/pkg/credentials"
	"github.com/balcony-dev/balcony/pkg/protocol"
)

// secured starts an embedded server that knows every identity by its
// nkey (as docs/security.md sets it up), provisioned by the nooper, and
// returns the nooper's connection and the seeds' directory.
func secured(t *testing.T) (*bus.Conn, string) {
	t.Helper()
	dir := t.TempDir()
	if _, err := credentials.Generate(credentials.Spec{Dir: dir, People: []string{"kermit"}, Services: true}); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "server.conf")
	if err := os.WriteFile(conf, []byte("include \"users.conf\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	nooper, err := bus.Connect(ctx, bus.Options{
		CredsFile: credentials.SeedFile(dir, credentials.Nooper, ""),
		Embedded:  bus.EmbeddedOptions{DataDir: t.TempDir(), Listen: "127.0.0.1:0", ConfigFile: conf},
		Log:       zerolog.Nop(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nooper.Close)
	if err := bus.Provision(ctx, nooper.JS, declaration(t)); err != nil {
		t.Fatal(err)
	}
	return nooper, dir
}

// A person's credentials may subscribe to events, not read streams: tail
// follows events with --live, and without it says to use it.
func TestPersonFollowsEventsLive(t *testing.T) {
	nooper, dir := secured(t)
	person, err := bus.Connect(context.Background(), bus.Options{URL: nooper.URL(), CredsFile: credentials.SeedFile(dir, credentials.Person, "kermit"), Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	defer person.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out, done := make(lines, 10), make(chan error, 1)
	go func() {
		done <- Run(ctx, person.NC, person.JS, Options{Subject: "balcony.event.>", Live: true, Declaration: declaration(t)}, out)
	}()
	bustest.Eventually(t, 0, "an event, live", func() bool {
		if err := nooper.Announce(context.Background(), "", protocol.Event{Type: "noop.ready", Text: "ready"}); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			t.Fatalf("ended: %v", err)
		default:
		}
		return len(out) > 0
	})
	got := records(t, bytes.NewReader(<-out))
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Subject != "balcony.event.noop.ready" || got[0].Type != "json" || got[0].Received == nil {
		t.Fatalf("live event: %+v", got)
	}

	// The stream's API is not the person's: the server drops the request
	// (a permissions violation), which goes unanswered until the deadline;
	// whatever the deadline, the error says what the person can do.
	rctx, rcancel := context.WithTimeout(context.Background(), time.Second)
	defer rcancel()
	err = Run(rctx, person.NC, person.JS, Options{Subject: "balcony.event.>", All: true, NoFollow: true, Declaration: declaration(t)}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "--live") {
		t.Fatalf("reading EVENTS as a person: %v, want a hint at --live", err)
	}
}
