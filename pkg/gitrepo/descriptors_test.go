package gitrepo_test

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/balcony-dev/balcony/pkg/gitrepo"
	"github.com/balcony-dev/balcony/pkg/gitrepo/gittest"
)

// openFiles returns the targets of this process's descriptors whose path
// starts with under (Linux only: the test is skipped elsewhere). A deleted
// file's target ends in " (deleted)".
func openFiles(t *testing.T, under string) []string {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("needs /proc/self/fd")
	}
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	var out []string
	for _, e := range entries {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err != nil {
			continue // closed meanwhile (the ReadDir's own descriptor)
		}
		if strings.HasPrefix(target, under) {
			out = append(out, target)
		}
	}
	return out
}

func all(string) bool { return true }

func countFDs(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	return len(entries)
}

// packedFixture is a fixture whose bare repository holds its objects in one
// pack, so that reading them opens a pack file.
func packedFixture(t *testing.T) *gittest.Fixture {
	f := gittest.New(t)
	f.Commit("one", map[string]string{"a": "1", "dir/b": "2"})
	f.Push("main")
	f.GitIn(f.Bare, "gc", "--quiet")
	return f
}

// TestCloseReleasesDescriptors opens, reads, fetches and closes Repos many
// times: the pack files they keep open are closed by Close, none is left.
func TestCloseReleasesDescriptors(t *testing.T) {
	f := packedFixture(t)
	root := filepath.Dir(f.Bare)
	openFiles(t, root) // skips off Linux
	before := countFDs(t)
	ctx := context.Background()
	for i := range 20 {
		r, err := gitrepo.Open(f.Bare)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Files("main", all); err != nil {
			t.Fatal(err)
		}
		if i == 0 && len(openFiles(t, root)) == 0 {
			t.Error("no pack file open after a read: the storage does not keep descriptors")
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
		if got := openFiles(t, root); len(got) != 0 {
			t.Fatalf("after Close: %v still open", got)
		}
	}
	mirrors := t.TempDir()
	for i := range 5 {
		m, err := gitrepo.Mirror(ctx, f.Bare, filepath.Join(mirrors, "code.git"))
		if err != nil {
			t.Fatal(err)
		}
		f.Commit("more", map[string]string{"a": string(rune('a' + i))})
		f.Push("main")
		if err := m.Fetch(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := m.Files("main", all); err != nil {
			t.Fatal(err)
		}
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
		if got := openFiles(t, mirrors); len(got) != 0 {
			t.Fatalf("mirror after Close: %v still open", got)
		}
	}
	// Other descriptors (the runtime's, the test's) may come and go; 20
	// Repos leaking their pack would show as 20 more.
	if after := countFDs(t); after > before+3 {
		t.Errorf("%d descriptors before, %d after", before, after)
	}
}

// TestReadsPackAddedAfterOpen checks that a Repo that keeps its packs open
// reads objects another process put in a new pack after it was opened (the
// reload after an object seemed missing), and lets go of packs a gc
// removed.
func TestReadsPackAddedAfterOpen(t *testing.T) {
	f := packedFixture(t)
	root := filepath.Dir(f.Bare)
	r, err := gitrepo.Open(f.Bare)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	if _, err := r.Files("main", all); err != nil {
		t.Fatal(err)
	}
	if len(openFiles(t, root)) == 0 {
		t.Fatal("no pack file open after a read")
	}

	// Another writer: a push, its objects packed beside the first pack,
	// the loose copies removed.
	two := f.Commit("two", map[string]string{"a": "22", "c": "3"})
	f.Push("main")
	f.GitIn(f.Bare, "repack", "-q")
	f.GitIn(f.Bare, "prune-packed")
	if packs, _ := filepath.Glob(filepath.Join(f.Bare, "objects", "pack", "*.pack")); len(packs) != 2 {
		t.Fatalf("packs after repack: %v, want 2", packs)
	}
	files, err := r.Files(two, all)
	if err != nil {
		t.Fatalf("read a commit of a pack added after open: %v", err)
	}
	if string(files["c"]) != "3" || string(files["a"]) != "22" {
		t.Errorf("files = %q", files)
	}

	// A gc replaces both packs by one: the removed ones are let go.
	f.GitIn(f.Bare, "gc", "--quiet", "--prune=now")
	if _, err := r.Files(two, all); err != nil {
		t.Fatal(err)
	}
	for _, name := range openFiles(t, root) {
		if strings.HasSuffix(name, " (deleted)") {
			t.Errorf("a removed file still open: %s", name)
		}
	}
}
