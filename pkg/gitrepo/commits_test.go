package gitrepo_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/balcony-dev/balcony/pkg/gitrepo"
	"github.com/balcony-dev/balcony/pkg/gitrepo/gittest"
)

// history builds, pushed to the bare repository:
//
//	A - B ----- C - M   main
//	     \         /
//	      S1 - S2      side
//
// committed in the order A, B, S1, S2, C, M (one minute apart).
type history struct {
	f                  *gittest.Fixture
	a, b, s1, s2, c, m string
}

func newHistory(t *testing.T) history {
	f := gittest.New(t)
	h := history{f: f}
	h.a = f.Commit("A", map[string]string{"a.pp": "a"})
	h.b = f.Commit("B", map[string]string{"b.pp": "b"})
	f.Git("checkout", "--quiet", "-b", "side")
	h.s1 = f.Commit("S1", map[string]string{"s.pp": "1"})
	h.s2 = f.Commit("S2", map[string]string{"s.pp": "2"})
	f.Git("checkout", "--quiet", "main")
	h.c = f.Commit("C\n\nbody line\n\nCo-authored-by: Bob <bob@example.com>", map[string]string{"c.pp": "c"})
	h.m = f.Merge("side", "Merge side")
	f.Push("main", "side")
	return h
}

func TestNewCommits(t *testing.T) {
	h := newHistory(t)
	repo, err := gitrepo.Open(h.f.Bare)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		old, new string
		limit    int
		want     []string
		wantErr  error
	}{
		{name: "merge brings side branch, parents first", old: h.b, new: h.m, want: []string{h.s1, h.s2, h.c, h.m}},
		{name: "merge after main moved", old: h.c, new: h.m, want: []string{h.s1, h.s2, h.m}},
		{name: "fast forward", old: h.a, new: h.c, want: []string{h.b, h.c}},
		{name: "new branch is tip only", old: "", new: h.m, want: []string{h.m}},
		{name: "same revision", old: h.m, new: h.m, want: nil},
		{name: "rewind", old: h.m, new: h.b, want: nil},
		{name: "forced push to another line", old: h.c, new: h.s2, want: []string{h.s1, h.s2}},
		{name: "branch names resolve", old: "side", new: "main", want: []string{h.c, h.m}},
		{name: "limit reached exactly", old: h.a, new: h.m, limit: 5, want: []string{h.b, h.s1, h.s2, h.c, h.m}},
		{name: "limit exceeded", old: h.a, new: h.m, limit: 4, wantErr: gitrepo.ErrTooManyCommits},
		{name: "unknown new", old: h.a, new: "nope", wantErr: gitrepo.ErrUnknownRevision},
		{name: "unknown old", old: "0123456789012345678901234567890123456789", new: h.m, wantErr: gitrepo.ErrUnknownRevision},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := repo.NewCommits(tt.old, tt.new, tt.limit)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			var shas []string
			for _, c := range got {
				shas = append(shas, c.SHA)
			}
			if !slices.Equal(shas, tt.want) {
				t.Errorf("commits = %v, want %v", names(h, shas), names(h, tt.want))
			}
		})
	}
}

func TestNewCommitsFields(t *testing.T) {
	h := newHistory(t)
	repo, err := gitrepo.Open(h.f.Work) // a non-bare repository too
	if err != nil {
		t.Fatal(err)
	}
	got, err := repo.NewCommits(h.b, h.m, 0)
	if err != nil {
		t.Fatal(err)
	}
	m, c := got[3], got[2]
	if !slices.Equal(m.Parents, []string{h.c, h.s2}) {
		t.Errorf("merge parents = %v, want first parent C then S2", names(h, m.Parents))
	}
	if c.Subject != "C" || c.Message != "C\n\nbody line\n\nCo-authored-by: Bob <bob@example.com>\n" {
		t.Errorf("subject %q, message %q", c.Subject, c.Message)
	}
	if c.Author != "Ada Lovelace" || c.AuthorEmail != "ada@example.com" {
		t.Errorf("author %q <%s>", c.Author, c.AuthorEmail)
	}
	if want := gittest.Epoch.Add(4 * 60e9); !c.Time.Equal(want) {
		t.Errorf("time %v, want %v", c.Time, want)
	}
}

func names(h history, shas []string) []string {
	byName := map[string]string{h.a: "A", h.b: "B", h.s1: "S1", h.s2: "S2", h.c: "C", h.m: "M"}
	var out []string
	for _, s := range shas {
		out = append(out, byName[s])
	}
	return out
}

// TestNewCommitsSameTimes: with every commit made in the same second (a
// rebase, a script), the walk must still exclude what old reaches and keep
// parents before children.
func TestNewCommitsSameTimes(t *testing.T) {
	f := gittest.New(t)
	f.Step = 0
	f.Commit("A", nil)
	var mainLine []string
	for range 6 {
		mainLine = append(mainLine, f.Commit("main", nil))
	}
	f.Git("checkout", "--quiet", "-b", "side", mainLine[0])
	s1 := f.Commit("S1", nil)
	s2 := f.Commit("S2", nil)
	f.Git("checkout", "--quiet", "main")
	m := f.Merge("side", "M")
	repo, err := gitrepo.Open(f.Work)
	if err != nil {
		t.Fatal(err)
	}
	old := mainLine[len(mainLine)-1]
	got, err := repo.NewCommits(old, m, 0)
	if err != nil {
		t.Fatal(err)
	}
	var shas []string
	for _, c := range got {
		shas = append(shas, c.SHA)
	}
	if !slices.Equal(shas, []string{s1, s2, m}) {
		t.Errorf("commits = %v, want S1 %s, S2 %s, M %s", shas, s1, s2, m)
	}
}
