package gitrepo

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/balcony-dev/balcony/pkg/gitrepo/gittest"
)

// TestCheckoutCacheEvictionCrash: a process killed while it removes an
// evicted checkout leaves no partial tree under the checkout's name; the
// next cache exports that commit again, complete, and clears the remains.
func TestCheckoutCacheEvictionCrash(t *testing.T) {
	f := gittest.New(t)
	files := map[string]string{"manifests/site.pp": "node default {}\n", "modules/a/init.pp": "class a {}\n", "modules/b/init.pp": "class b {}\n"}
	first := f.Commit("first", files)
	second := f.Commit("second", map[string]string{"README": "hi\n"})
	f.Push("main")
	repo, err := Open(f.Bare)
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	ctx := context.Background()
	cache := NewCheckoutCache(repo, root, 1)
	if _, err := cache.Checkout(ctx, first); err != nil {
		t.Fatal(err)
	}

	// The crash: the removal of first's checkout stops after one file.
	crash := errors.New("killed")
	removeAll = func(path string) error {
		return errors.Join(crash, filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				_ = os.Remove(p)
				return fs.SkipAll
			}
			return err
		}))
	}
	_, err = cache.Checkout(ctx, second)
	removeAll = os.RemoveAll
	if !errors.Is(err, crash) {
		t.Fatalf("checkout during the crash: %v", err)
	}

	restarted := NewCheckoutCache(repo, root, 1)
	dir, err := restarted.Checkout(ctx, first)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range files {
		got, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(name)))
		if err != nil || string(got) != want {
			t.Errorf("%s after the crash: %q, %v; want %q", name, got, err, want)
		}
	}
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != first {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("root holds %v, want only %s", names, first)
	}
}
