package gitrepo_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/balcony-dev/balcony/pkg/gitrepo"
	"github.com/balcony-dev/balcony/pkg/gitrepo/gittest"
)

func TestChanges(t *testing.T) {
	f := gittest.New(t)
	first := f.Commit("first", map[string]string{
		"manifests/site.pp": "node default {}\n", "gone.pp": "x\n", "README": "a\n", "same.pp": "s\n",
	})
	second := f.Commit("second", map[string]string{
		"manifests/site.pp": "node default { file('/etc/shadow') }\n", "new.pp": "n\n", "gone.pp": "", "README": "b\n",
	})
	f.Push("main")
	repo, err := gitrepo.Open(f.Bare)
	if err != nil {
		t.Fatal(err)
	}
	pp := func(p string) bool { return strings.HasSuffix(p, ".pp") }

	got, err := repo.Changes(first, second, pp)
	if err != nil {
		t.Fatal(err)
	}
	want := []gitrepo.Change{
		{Path: "manifests/site.pp", Before: []byte("node default {}\n"), After: []byte("node default { file('/etc/shadow') }\n")},
		{Path: "new.pp", After: []byte("n\n")},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("changes (-want +got):\n%s", diff)
	}

	got, err = repo.Changes("", first, pp)
	if err != nil {
		t.Fatal(err)
	}
	want = []gitrepo.Change{
		{Path: "gone.pp", After: []byte("x\n")},
		{Path: "manifests/site.pp", After: []byte("node default {}\n")},
		{Path: "same.pp", After: []byte("s\n")},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("changes of a root commit (-want +got):\n%s", diff)
	}

	if _, err := repo.Changes(first, strings.Repeat("0", 40), pp); !errors.Is(err, gitrepo.ErrUnknownRevision) {
		t.Errorf("unknown revision: %v, want ErrUnknownRevision", err)
	}
}
