package gitrepo_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/balcony-dev/balcony/pkg/gitrepo"
	"github.com/balcony-dev/balcony/pkg/gitrepo/gittest"
)

func TestCheckoutCache(t *testing.T) {
	f := gittest.New(t)
	var shas []string
	for _, v := range []string{"1", "2", "3", "4"} {
		shas = append(shas, f.Commit("v"+v, map[string]string{"v.pp": v}))
	}
	f.Push("main")
	repo, err := gitrepo.Open(f.Bare)
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(t.TempDir(), "checkouts")
	cache := gitrepo.NewCheckoutCache(repo, root, 2)
	ctx := context.Background()

	steps := []struct {
		name    string
		rev     string
		wantErr error
		want    []int // indexes of shas left under root
	}{
		{name: "first", rev: shas[0], want: []int{0}},
		{name: "second", rev: shas[1], want: []int{0, 1}},
		{name: "reuse first", rev: shas[0], want: []int{0, 1}},
		{name: "third evicts least recently used", rev: shas[2], want: []int{0, 2}},
		{name: "branch name resolves", rev: "main", want: []int{2, 3}},
		{name: "unknown revision", rev: "no-such-branch", wantErr: gitrepo.ErrUnknownRevision, want: []int{2, 3}},
	}
	for _, st := range steps {
		dir, err := cache.Checkout(ctx, st.rev)
		if !errors.Is(err, st.wantErr) {
			t.Fatalf("%s: err = %v, want %v", st.name, err, st.wantErr)
		}
		if err == nil {
			b, err := os.ReadFile(filepath.Join(dir, "v.pp"))
			if err != nil {
				t.Fatalf("%s: %v", st.name, err)
			}
			if sha, _ := repo.Resolve(st.rev); dir != filepath.Join(root, sha) || string(b) != f.GitIn(f.Work, "show", sha+":v.pp") {
				t.Errorf("%s: dir %s holds %q", st.name, dir, b)
			}
		}
		var want []string
		for _, i := range st.want {
			want = append(want, shas[i])
		}
		slices.Sort(want)
		if got := listDir(t, root); !slices.Equal(got, want) {
			t.Errorf("%s: root holds %v, want %v", st.name, got, want)
		}
	}
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}
