package codebus

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestHeads: the heads are the tips of the chains of packs, newest first,
// at most the limit; objects that are not balcony's are skipped.
func TestHeads(t *testing.T) {
	w := newWorld(t, PublisherOptions{FullEvery: 2}, FetcherOptions{})
	heads := func(limit int) []string {
		t.Helper()
		got, err := w.fetch.Heads(context.Background(), limit)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := heads(8); len(got) != 0 {
		t.Fatalf("heads of an empty store: %v", got)
	}
	c1, _ := w.commit(1, map[string]string{"a.pp": "1\n"})
	w.commit(2, map[string]string{"a.pp": "2\n"})
	c3, _ := w.commit(3, map[string]string{"a.pp": "3\n"}) // with a full pack too (FullEvery 2)
	if diff := cmp.Diff([]string{c3}, heads(8)); diff != "" {
		t.Errorf("heads of one chain (-want +got):\n%s", diff)
	}

	// A branch off c1, published after main's c3.
	w.git.Git("checkout", "--quiet", "-b", "side", c1)
	side := w.git.Commit("side", map[string]string{"b.pp": "side\n"})
	w.git.Push("side")
	if _, err := w.pub.Publish(context.Background(), side, c1); err != nil {
		t.Fatal(err)
	}
	if _, err := w.store.PutString(context.Background(), "notes.txt", "not code"); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{side, c3}, heads(8)); diff != "" {
		t.Errorf("heads of two branches (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{side}, heads(1)); diff != "" {
		t.Errorf("heads limited to one (-want +got):\n%s", diff)
	}
}
