package gitrepo_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/balcony-dev/balcony/pkg/gitrepo"
)

func TestCommitReadsGit(t *testing.T) {
	h := newHistory(t)
	repo, err := gitrepo.Open(h.f.Bare)
	if err != nil {
		t.Fatal(err)
	}
	c, err := repo.Commit(h.m)
	if err != nil {
		t.Fatal(err)
	}
	if c.SHA != h.m || !slices.Equal(c.Parents, []string{h.c, h.s2}) || c.Subject != "Merge side" ||
		c.Author != "Ada Lovelace" || c.AuthorEmail != "ada@example.com" {
		t.Errorf("commit %+v, want M with parents C, S2 by Ada", c)
	}
	c, err = repo.Commit(h.c)
	if err != nil {
		t.Fatal(err)
	}
	if want := "C\n\nbody line\n\nCo-authored-by: Bob <bob@example.com>\n"; c.Message != want {
		t.Errorf("message %q, want %q", c.Message, want)
	}
	if _, err := repo.Commit("0123456789012345678901234567890123456789"); !errors.Is(err, gitrepo.ErrUnknownRevision) {
		t.Errorf("unknown sha: error %v, want ErrUnknownRevision", err)
	}
}

func TestOnFirstParentChain(t *testing.T) {
	h := newHistory(t)
	repo, err := gitrepo.Open(h.f.Bare)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, branch, sha string
		limit             int
		want              bool
		wantErr           error
	}{
		{name: "tip", branch: "main", sha: h.m, want: true},
		{name: "first parent of the merge", branch: "main", sha: h.c, want: true},
		{name: "root", branch: "main", sha: h.a, want: true},
		{name: "side commit merged in", branch: "main", sha: h.s2, want: false},
		{name: "on another branch's chain", branch: "side", sha: h.s1, want: true},
		{name: "within the limit", branch: "main", sha: h.b, limit: 3, want: true},
		{name: "past the limit", branch: "main", sha: h.a, limit: 3, want: false},
		{name: "unknown branch", branch: "nope", sha: h.a, wantErr: gitrepo.ErrUnknownRevision},
		{name: "not a sha", branch: "main", sha: "main", wantErr: gitrepo.ErrUnknownRevision},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := repo.OnFirstParentChain(tc.branch, tc.sha, tc.limit)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("error %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("on the chain: %v, want %v", got, tc.want)
			}
		})
	}
}
