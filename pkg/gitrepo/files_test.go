package gitrepo_test

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/balcony-dev/balcony/pkg/gitrepo"
	"github.com/balcony-dev/balcony/pkg/gitrepo/gittest"
)

func TestFiles(t *testing.T) {
	f := gittest.New(t)
	first := f.Commit("first", map[string]string{
		"CODEOWNERS":               "* @ops\n",
		"manifests/site.pp":        "node default {}\n",
		"manifests/nodes/a.pp":     "node 'a' {}\n",
		"modules/x/manifests/a.pp": "class x {}\n",
	})
	f.Commit("second", map[string]string{"CODEOWNERS": "* @kermit\n"})
	f.Push("main")
	repo, err := gitrepo.Open(f.Bare)
	if err != nil {
		t.Fatal(err)
	}
	got, err := repo.Files(first, gitrepo.Under([]string{"manifests"}, "CODEOWNERS"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]byte{
		"CODEOWNERS":           []byte("* @ops\n"),
		"manifests/site.pp":    []byte("node default {}\n"),
		"manifests/nodes/a.pp": []byte("node 'a' {}\n"),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("files at the first commit (-want +got):\n%s", diff)
	}
	if _, err := repo.Files("0123456789012345678901234567890123456789", func(string) bool { return true }); !errors.Is(err, gitrepo.ErrUnknownRevision) {
		t.Errorf("unknown revision: %v", err)
	}
}
