package committer_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/bus/bustest"
	"github.com/balcony-dev/balcony/pkg/committer"
	"github.com/balcony-dev/balcony/pkg/gitrepo/gittest"
	"github.com/balcony-dev/balcony/pkg/owners"
	"github.com/balcony-dev/balcony/pkg/protocol"
)

// encodedSize is the size FitEvent is given: the event's msgpack.
func encodedSize(ev protocol.CommitEvent) (int, error) {
	data, err := bus.Marshal(ev)
	return len(data), err
}

const coAuthor = "Co-authored-by: Fozzie <fozzie@muppets.example>"

// hugeMessage is a commit message of about n bytes with a trailer.
func hugeMessage(n int) string {
	return "one huge commit\n\n" + strings.Repeat("wocka wocka\n", n/12) + "\n" + coAuthor + "\n"
}

func TestFitEvent(t *testing.T) {
	const limit = 64 << 10
	commit := func(sha, msg string) protocol.Commit {
		subject, _, _ := strings.Cut(msg, "\n")
		return protocol.Commit{SHA: strings.Repeat(sha, 40), Author: "Kermit", Subject: subject, Message: msg}
	}
	tests := []struct {
		name    string
		commits []protocol.Commit
		cut     int
		wantErr bool
	}{
		{name: "fits: unchanged", commits: []protocol.Commit{commit("a", "small\n\nbody\n")}},
		{name: "one huge message", commits: []protocol.Commit{commit("a", "small\n"), commit("b", hugeMessage(3*limit))}, cut: 1},
		{name: "a huge first line", commits: []protocol.Commit{commit("a", strings.Repeat("é", 2*limit)+"\n\n"+coAuthor+"\n")}, cut: 1},
		{name: "many long messages", commits: func() []protocol.Commit {
			var cs []protocol.Commit
			for _, c := range "abcdefghij" {
				cs = append(cs, commit(string(c), hugeMessage(limit/4)))
			}
			return cs
		}(), cut: 10},
		{name: "too many commits", commits: func() []protocol.Commit {
			var cs []protocol.Commit
			for range 2000 {
				cs = append(cs, commit("a", "x\n"))
			}
			return cs
		}(), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := protocol.CommitEvent{Schema: protocol.SchemaVersion, Repo: "puppet", Ref: "refs/heads/main", Commits: tt.commits}
			out, cut, err := committer.FitEvent(ev, limit, encodedSize)
			if tt.wantErr {
				if err == nil {
					t.Fatal("an event that cannot fit was accepted")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cut != tt.cut {
				t.Errorf("cut %d messages, want %d", cut, tt.cut)
			}
			if n, _ := encodedSize(out); n > limit {
				t.Errorf("%d bytes, over the limit of %d", n, limit)
			}
			for i, c := range out.Commits {
				orig := tt.commits[i]
				if len(orig.Message) <= limit/len(tt.commits)/2 && c.Message != orig.Message {
					t.Errorf("commit %d: a short message was changed", i)
				}
				if c.Message == orig.Message {
					continue
				}
				if !strings.Contains(c.Message, "this message was cut from") || !strings.HasPrefix(orig.Message, strings.TrimSuffix(c.Message[:10], "…")) {
					t.Errorf("commit %d: cut message does not begin as the original and say it was cut:\n%.300s", i, c.Message)
				}
				if got := owners.CoAuthors(c.Message); len(got) != 1 || got[0] != "fozzie@muppets.example" {
					t.Errorf("commit %d: co-authors %v after the cut, want fozzie's", i, got)
				}
				if len(c.Subject) > len(c.Message) {
					t.Errorf("commit %d: subject of %d bytes kept whole", i, len(c.Subject))
				}
			}
			if len(tt.commits) > 0 && tt.cut == 0 && out.Commits[0].Message != tt.commits[0].Message {
				t.Error("an event that fits was changed")
			}
		})
	}
}

// TestHugeCommitMessagePublished: a push whose commit message alone is over
// the bus's payload limit is published, by the hook's path, with the
// message cut; the next push is published too.
func TestHugeCommitMessagePublished(t *testing.T) {
	srv := bustest.Start(t)
	f := gittest.New(t)
	base := f.Commit("base", nil)
	f.Push("main")
	c := newCommitter(t, f, committer.BusPublisher{Conn: srv, Log: zerolog.Nop()})
	publishAt(t, c, "main", base)

	msgFile := filepath.Join(t.TempDir(), "message")
	if err := os.WriteFile(msgFile, []byte(hugeMessage(9_000_000)), 0o600); err != nil {
		t.Fatal(err)
	}
	f.Git("commit", "--quiet", "--allow-empty", "-F", msgFile)
	huge := f.Rev("HEAD")
	f.Push("main")
	ctx := context.Background()
	if n, err := c.HandleUpdates(ctx, []committer.RefUpdate{{Old: base, New: huge, Ref: "refs/heads/main"}}); err != nil || n != 1 {
		t.Fatalf("push of a 9 MB message: %d published, %v", n, err)
	}
	next := f.Commit("next", nil)
	f.Push("main")
	if n, err := c.HandleUpdates(ctx, []committer.RefUpdate{{Old: huge, New: next, Ref: "refs/heads/main"}}); err != nil || n != 1 {
		t.Fatalf("next push: %d published, %v", n, err)
	}

	events := readCommitEvents(t, srv, 2)
	if got := events[0].Commits; len(got) != 1 || got[0].SHA != huge {
		t.Fatalf("first event has commits %+v, want the huge one", got)
	}
	m := events[0].Commits[0]
	if !strings.HasPrefix(m.Message, "one huge commit\n\nwocka wocka\n") || !strings.Contains(m.Message, "this message was cut from") || !strings.Contains(m.Message, coAuthor) {
		t.Errorf("published message of %d bytes does not keep the beginning, say it was cut and keep the trailer", len(m.Message))
	}
	if m.Subject != "one huge commit" {
		t.Errorf("subject %q", m.Subject)
	}
	if got := events[1].Commits; len(got) != 1 || got[0].SHA != next {
		t.Errorf("second event has commits %+v, want the next one", got)
	}
}

// readCommitEvents reads the first n events of COMMITS.
func readCommitEvents(t *testing.T, conn *bus.Conn, n int) []protocol.CommitEvent {
	t.Helper()
	ctx := context.Background()
	s, err := conn.JS.Stream(ctx, "COMMITS")
	if err != nil {
		t.Fatal(err)
	}
	var out []protocol.CommitEvent
	for seq := uint64(1); seq <= uint64(n); seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			t.Fatalf("COMMITS message %d: %v", seq, err)
		}
		var ev protocol.CommitEvent
		if err := bus.Unmarshal(m.Data, &ev); err != nil {
			t.Fatal(err)
		}
		out = append(out, ev)
	}
	return out
}
