package committer_test

import (
	"testing"

	"github.com/balcony-dev/balcony/pkg/committer"
	"github.com/balcony-dev/balcony/pkg/gitrepo"
	"github.com/balcony-dev/balcony/pkg/gitrepo/gittest"
)

func TestMarkBaseline(t *testing.T) {
	f := gittest.New(t)
	tip := f.Commit("first", map[string]string{"a.pp": "x"})
	f.Push("main")

	marked, err := committer.MarkBaseline(f.Bare, []string{"main", "missing"})
	if err != nil {
		t.Fatal(err)
	}
	if len(marked) != 1 || marked["main"] != tip {
		t.Fatalf("marked %v, want main at %s", marked, tip)
	}
	// A second call keeps the existing marker.
	f.Commit("second", map[string]string{"a.pp": "y"})
	f.Push("main")
	if marked, err := committer.MarkBaseline(f.Bare, []string{"main"}); err != nil || len(marked) != 0 {
		t.Fatalf("second call marked %v, %v; want nothing", marked, err)
	}
	repo, err := gitrepo.Open(f.Bare)
	if err != nil {
		t.Fatal(err)
	}
	if got, ok, err := repo.Published("main"); err != nil || !ok || got != tip {
		t.Fatalf("marker %q %v %v, want %s", got, ok, err, tip)
	}
}
