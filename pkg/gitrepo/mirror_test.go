package gitrepo_test

import (
	"context"
	"errors"
	"maps"
	"path/filepath"
	"testing"

	"github.com/balcony-dev/balcony/pkg/gitrepo"
	"github.com/balcony-dev/balcony/pkg/gitrepo/gittest"
)

func TestMirror(t *testing.T) {
	ctx := context.Background()
	f := gittest.New(t)
	one := f.Commit("one", map[string]string{"a": "1"})
	f.Git("branch", "old")
	f.Push("main", "old")
	dir := filepath.Join(t.TempDir(), "mirrors", "puppet.git")

	m, err := gitrepo.Mirror(ctx, f.Bare, dir)
	if err != nil {
		t.Fatal(err)
	}
	assertBranches(t, m, map[string]string{"main": one, "old": one})
	if err := m.Fetch(ctx); err != nil {
		t.Fatalf("fetch when up to date: %v", err)
	}

	two := f.Commit("two", map[string]string{"a": "2"})
	f.Git("checkout", "--quiet", "-b", "new")
	three := f.Commit("three", map[string]string{"a": "3"})
	f.Push("main", "new", ":old")
	if err := m.Fetch(ctx); err != nil {
		t.Fatal(err)
	}
	assertBranches(t, m, map[string]string{"main": two, "new": three})
	if got, err := m.NewCommits(one, "new", 0); err != nil || len(got) != 2 {
		t.Errorf("NewCommits after fetch = %v, %v", got, err)
	}

	// Reopening the existing mirror does not clone again.
	again, err := gitrepo.Mirror(ctx, f.Bare, dir)
	if err != nil {
		t.Fatal(err)
	}
	assertBranches(t, again, map[string]string{"main": two, "new": three})
}

func TestMirrorErrors(t *testing.T) {
	ctx := context.Background()
	f := gittest.New(t)
	f.Commit("one", nil)
	f.Push("main")
	tests := []struct {
		name     string
		url, dir string
		want     error
	}{
		{name: "dir is a work tree", url: f.Bare, dir: f.Work, want: gitrepo.ErrNotBare},
		{name: "dir is not a repository", url: f.Bare, dir: t.TempDir(), want: gitrepo.ErrNotRepository},
		{name: "url is not a repository", url: t.TempDir(), dir: filepath.Join(t.TempDir(), "m")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := gitrepo.Mirror(ctx, tt.url, tt.dir)
			if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			assertNoTemp(t, filepath.Dir(tt.dir))
		})
	}
}

func assertBranches(t *testing.T, r *gitrepo.Repo, want map[string]string) {
	t.Helper()
	got, err := r.Branches()
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(got, want) {
		t.Errorf("branches = %v, want %v", got, want)
	}
}
