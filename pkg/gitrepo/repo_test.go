package gitrepo_test

import (
	"context"
	"errors"
	"maps"
	"testing"

	"github.com/balcony-dev/balcony/pkg/gitrepo"
	"github.com/balcony-dev/balcony/pkg/gitrepo/gittest"
)

func TestOpen(t *testing.T) {
	f := gittest.New(t)
	tests := []struct {
		name     string
		path     string
		wantBare bool
		wantErr  error
	}{
		{name: "bare", path: f.Bare, wantBare: true},
		{name: "work tree", path: f.Work, wantBare: false},
		{name: "not a repository", path: t.TempDir(), wantErr: gitrepo.ErrNotRepository},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := gitrepo.Open(tt.path)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if bare, err := r.Bare(); err != nil || bare != tt.wantBare {
				t.Errorf("Bare() = %v, %v; want %v", bare, err, tt.wantBare)
			}
		})
	}
}

func TestResolveAndBranches(t *testing.T) {
	f := gittest.New(t)
	one := f.Commit("one", map[string]string{"a": "1"})
	f.Git("tag", "-a", "-m", "release", "v1")
	f.Git("checkout", "--quiet", "-b", "feature/x")
	two := f.Commit("two", map[string]string{"a": "2"})
	f.Push("main", "feature/x", "v1")
	r, err := gitrepo.Open(f.Bare)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		rev     string
		want    string
		wantErr error
	}{
		{rev: one, want: one},
		{rev: "main", want: one},
		{rev: "refs/heads/feature/x", want: two},
		{rev: "v1", want: one}, // annotated tag peeled
		{rev: "feature/x~1", want: one},
		{rev: "", wantErr: gitrepo.ErrUnknownRevision},
		{rev: "nope", wantErr: gitrepo.ErrUnknownRevision},
		{rev: "1111111111111111111111111111111111111111", wantErr: gitrepo.ErrUnknownRevision},
	}
	for _, tt := range tests {
		t.Run(tt.rev, func(t *testing.T) {
			got, err := r.Resolve(tt.rev)
			if !errors.Is(err, tt.wantErr) || got != tt.want {
				t.Errorf("Resolve = %q, %v; want %q, %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
	branches, err := r.Branches()
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"main": one, "feature/x": two}; !maps.Equal(branches, want) {
		t.Errorf("Branches = %v, want %v", branches, want)
	}
}

func TestPublishedMarkers(t *testing.T) {
	f := gittest.New(t)
	one := f.Commit("one", nil)
	f.Push("main")
	r, err := gitrepo.Open(f.Bare)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := r.Published("main"); ok || err != nil {
		t.Fatalf("Published before any = %v, %v", ok, err)
	}
	if err := r.SetPublished("main", one); err != nil {
		t.Fatal(err)
	}
	if sha, ok, err := r.Published("main"); sha != one || !ok || err != nil {
		t.Errorf("Published = %q, %v, %v; want %s", sha, ok, err, one)
	}
	if got := f.GitIn(f.Bare, "rev-parse", gitrepo.PublishedPrefix+"main"); got != one {
		t.Errorf("marker ref = %s", got)
	}
	if got, err := r.PublishedBranches(); err != nil || len(got) != 1 || got[0] != "main" {
		t.Errorf("PublishedBranches = %v, %v", got, err)
	}
	bad := []struct {
		name, branch, sha string
		want              error
	}{
		{"invalid branch", "a..b", one, gitrepo.ErrInvalidBranch},
		{"empty branch", "", one, gitrepo.ErrInvalidBranch},
		{"short sha", "main", one[:7], gitrepo.ErrUnknownRevision},
		{"missing commit", "main", "2222222222222222222222222222222222222222", gitrepo.ErrUnknownRevision},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			if err := r.SetPublished(tt.branch, tt.sha); !errors.Is(err, tt.want) {
				t.Errorf("SetPublished = %v, want %v", err, tt.want)
			}
		})
	}
}

// TestSeesLaterPushes checks that a Repo opened before a push (and a gc)
// by another process reads the new objects without being reopened.
func TestSeesLaterPushes(t *testing.T) {
	f := gittest.New(t)
	one := f.Commit("one", map[string]string{"a": "1"})
	f.Push("main")
	f.GitIn(f.Bare, "gc", "--quiet")
	r, err := gitrepo.Open(f.Bare)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.NewCommits("", "main", 0); err != nil {
		t.Fatal(err)
	}
	var two string
	for i := range 3 {
		two = f.Commit("more", map[string]string{"a": string(rune('2' + i))})
	}
	f.Push("main")
	f.GitIn(f.Bare, "gc", "--quiet")
	got, err := r.NewCommits(one, "main", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[2].SHA != two {
		t.Errorf("got %d commits, tip %v", len(got), got)
	}
	if err := r.Export(context.Background(), two, t.TempDir()+"/co"); err != nil {
		t.Error(err)
	}
}
