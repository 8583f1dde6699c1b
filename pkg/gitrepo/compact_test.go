package gitrepo_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/storage"
	"github.com/google/go-cmp/cmp"
	"github.com/rs/zerolog"

	"github.com/balcony-dev/balcony/pkg/gitrepo"
	"github.com/balcony-dev/balcony/pkg/gitrepo/gittest"
)

// packs lists the pack files of the bare repository at dir.
func packs(t *testing.T, dir string) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "objects", "pack", "pack-*.pack"))
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// sameFiles checks that repo holds every commit of shas with the files
// the fixture's own repository has for it.
func sameFiles(t *testing.T, f *gittest.Fixture, repo *gitrepo.Repo, shas []string) {
	t.Helper()
	origin, err := gitrepo.Open(f.Bare)
	if err != nil {
		t.Fatal(err)
	}
	defer origin.Close()
	for _, sha := range shas {
		want, err := origin.Files(sha, all)
		if err != nil {
			t.Fatal(err)
		}
		got, err := repo.Files(sha, all)
		if err != nil {
			t.Errorf("%s after the merge: %v", sha, err)
			continue
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s's files after the merge (-want +got):\n%s", sha, diff)
		}
	}
}

// TestMirrorMergesItsPacks: a mirror whose fetches leave more packs than
// its limit merges them after the fetch that passes it, says so in its
// log, and reads every revision as before.
func TestMirrorMergesItsPacks(t *testing.T) {
	f := gittest.New(t)
	shas := []string{f.Commit("first", map[string]string{"manifests/site.pp": "node default {}\n"})}
	f.Push("main")
	repo, err := gitrepo.Mirror(t.Context(), f.Bare, filepath.Join(t.TempDir(), "code.git"))
	if err != nil {
		t.Fatal(err)
	}
	defer repo.Close()
	var log bytes.Buffer
	const limit = 3
	repo.SetUpkeep(gitrepo.Upkeep{PackLimit: limit, Log: zerolog.New(&log)})
	merged := false
	for i := range 8 {
		shas = append(shas, f.Commit(fmt.Sprintf("change %d", i), map[string]string{
			fmt.Sprintf("modules/m%d/manifests/init.pp", i): fmt.Sprintf("class m%d {}\n", i),
		}))
		f.Push("main")
		before := len(packs(t, repo.Path()))
		if err := repo.Fetch(t.Context()); err != nil {
			t.Fatal(err)
		}
		n := len(packs(t, repo.Path()))
		if n > limit {
			t.Fatalf("fetch %d left %d packs, more than the limit %d", i, n, limit)
		}
		merged = merged || n < before
	}
	if !merged {
		t.Error("no fetch merged the packs")
	}
	if !strings.Contains(log.String(), "merged the repository's packs into one") {
		t.Errorf("no merge in the mirror's log:\n%s", log.String())
	}
	sameFiles(t, f, repo, shas)
}

// storePack stores in repo the pack git makes of what commit sha adds to
// base (all of it when base is empty), as pkg/codebus stores a verified
// pack: no ref names what it brings.
func storePack(t *testing.T, f *gittest.Fixture, repo *gitrepo.Repo, sha, base string) {
	t.Helper()
	revs := sha + "\n"
	if base != "" {
		revs += "^" + base + "\n"
	}
	cmd := exec.Command("git", "-C", f.Bare, "pack-objects", "--revs", "--stdout", "-q")
	cmd.Stdin = strings.NewReader(revs)
	pack, err := cmd.Output()
	if err != nil {
		t.Fatalf("git pack-objects: %v", err)
	}
	if err := repo.WithStorage(func(s storage.Storer) error {
		return packfile.UpdateObjectStorage(s, bytes.NewReader(pack))
	}); err != nil {
		t.Fatal(err)
	}
}

// TestCompactKeepsEveryObject: a local copy filled with packs no ref
// names has them merged into one pack holding every object, while readers
// read on; a pack git is told to keep (.keep) is left; at or under the
// limit nothing is done.
func TestCompactKeepsEveryObject(t *testing.T) {
	f := gittest.New(t)
	repo, err := gitrepo.Local(filepath.Join(t.TempDir(), "code.git"))
	if err != nil {
		t.Fatal(err)
	}
	defer repo.Close()
	var shas []string
	for i := range 6 {
		shas = append(shas, f.Commit(fmt.Sprintf("change %d", i), map[string]string{
			"manifests/site.pp":                             fmt.Sprintf("node default { notify { 'change %d': } }\n", i),
			fmt.Sprintf("modules/m%d/manifests/init.pp", i): fmt.Sprintf("class m%d {}\n", i),
		}))
		f.Push("main")
		base := ""
		if i > 0 {
			base = shas[i-1]
		}
		storePack(t, f, repo, shas[i], base)
	}
	all6 := packs(t, repo.Path())
	if len(all6) != 6 {
		t.Fatalf("%d packs stored, want 6", len(all6))
	}
	if c, err := repo.Compact(t.Context(), 6); err != nil || c.Packs != 0 {
		t.Fatalf("at the limit: %+v, %v; want nothing done", c, err)
	}
	kept := strings.TrimSuffix(all6[0], ".pack") + ".keep"
	if err := os.WriteFile(kept, nil, 0o644); err != nil {
		t.Fatal(err)
	}

	// Readers go on through the merge: each reads every revision.
	ctx, stop := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 2 {
		wg.Go(func() {
			for ctx.Err() == nil {
				for _, sha := range shas {
					if _, err := repo.Files(sha, all); err != nil {
						errs <- fmt.Errorf("read %s during the merge: %w", sha, err)
						return
					}
				}
			}
		})
	}
	c, err := repo.Compact(t.Context(), 2)
	stop()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if c.Packs != 5 || c.Objects == 0 || c.Bytes == 0 {
		t.Errorf("merge %+v, want the 5 packs without .keep merged", c)
	}
	left := packs(t, repo.Path())
	if len(left) != 2 || !strings.Contains(strings.Join(left, " "), all6[0]) {
		t.Errorf("packs after the merge: %v, want the kept one and the merged one", left)
	}
	sameFiles(t, f, repo, shas)

	// Opened anew, as the agent opens it at start, it reads the same.
	again, err := gitrepo.Local(repo.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if fixes := again.Repairs(); len(fixes) != 0 {
		t.Errorf("repairs after a merge: %q", fixes)
	}
	sameFiles(t, f, again, shas)
}
