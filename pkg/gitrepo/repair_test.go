package gitrepo_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/balcony-dev/balcony/pkg/gitrepo"
	"github.com/balcony-dev/balcony/pkg/gitrepo/gittest"
)

// crashFixture is a mirror fetched when the remote held commit one only
// (before), a copy of it that then fetched commit two (after), and the
// pack that fetch wrote.
type crashFixture struct {
	f             *gittest.Fixture
	one, two      string
	before, after string
	pack          string // objects/pack/pack-<sum>, without extension
	packData      []byte
	idxData       []byte
}

func newCrashFixture(t *testing.T) *crashFixture {
	t.Helper()
	ctx := context.Background()
	c := &crashFixture{f: gittest.New(t)}
	c.one = c.f.Commit("one", map[string]string{"manifests/site.pp": "node default {}\n"})
	c.f.Push("main")
	c.before = filepath.Join(t.TempDir(), "before.git")
	if _, err := gitrepo.Mirror(ctx, c.f.Bare, c.before); err != nil {
		t.Fatal(err)
	}
	c.two = c.f.Commit("two", map[string]string{"manifests/site.pp": "node default { notify { 'x': } }\n", "modules/m/init.pp": "class m {}\n"})
	c.f.Push("main")
	c.after = filepath.Join(t.TempDir(), "after.git")
	copyDir(t, c.before, c.after)
	m, err := gitrepo.Mirror(ctx, c.f.Bare, c.after)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Fetch(ctx); err != nil {
		t.Fatal(err)
	}
	packs, _ := filepath.Glob(filepath.Join(c.after, "objects", "pack", "*.pack"))
	for _, p := range packs {
		if _, err := os.Stat(filepath.Join(c.before, "objects", "pack", filepath.Base(p))); err != nil {
			c.pack = filepath.Join("objects", "pack", strings.TrimSuffix(filepath.Base(p), ".pack"))
		}
	}
	if c.pack == "" {
		t.Fatalf("fetching two wrote no new pack: %v", packs)
	}
	c.packData = readFile(t, filepath.Join(c.after, c.pack+".pack"))
	c.idxData = readFile(t, filepath.Join(c.after, c.pack+".idx"))
	return c
}

// TestMirrorSurvivesCrash: each state a process killed while writing its
// mirror can leave (go-git writes a pack's index in place before renaming
// the pack, keeps an index that exists already, truncates a ref or the
// config before writing it) is put right by the next Mirror or Fetch, and
// every commit can then be read afresh, as Export does.
func TestMirrorSurvivesCrash(t *testing.T) {
	c := newCrashFixture(t)
	tests := []struct {
		name string
		from string // c.before or c.after
		// whileOpen damages the mirror after it was opened, as an
		// earlier fetch of the same process failing would.
		whileOpen bool
		damage    func(t *testing.T, dir string)
	}{
		{
			name: "killed while writing the index of a fetched pack",
			from: c.before,
			damage: func(t *testing.T, dir string) {
				writeFile(t, filepath.Join(dir, c.pack+".idx"), c.idxData[:len(c.idxData)/2])
				writeFile(t, filepath.Join(dir, "objects", "pack", "tmp_pack_123456"), c.packData)
			},
		},
		{
			name: "killed just after creating that index",
			from: c.before,
			damage: func(t *testing.T, dir string) {
				writeFile(t, filepath.Join(dir, c.pack+".idx"), nil)
				writeFile(t, filepath.Join(dir, "objects", "pack", "tmp_pack_123456"), c.packData)
			},
		},
		{
			name:      "an earlier fetch of this process failed while writing the index",
			from:      c.before,
			whileOpen: true,
			damage: func(t *testing.T, dir string) {
				writeFile(t, filepath.Join(dir, c.pack+".idx"), c.idxData[:len(c.idxData)/2])
			},
		},
		{
			name: "a pack installed beside a cut index",
			from: c.after,
			damage: func(t *testing.T, dir string) {
				writeFile(t, filepath.Join(dir, c.pack+".idx"), c.idxData[:len(c.idxData)-1])
			},
		},
		{
			name: "killed while writing a branch",
			from: c.after,
			damage: func(t *testing.T, dir string) {
				writeFile(t, filepath.Join(dir, "refs", "heads", "main"), nil)
			},
		},
		{
			name:      "an earlier fetch of this process failed while writing a branch",
			from:      c.before,
			whileOpen: true,
			damage: func(t *testing.T, dir string) {
				writeFile(t, filepath.Join(dir, "refs", "heads", "main"), nil)
			},
		},
		{
			name: "killed while writing the config",
			from: c.after,
			damage: func(t *testing.T, dir string) {
				writeFile(t, filepath.Join(dir, "config"), nil)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			dir := filepath.Join(t.TempDir(), "code.git")
			copyDir(t, tt.from, dir)
			var m *gitrepo.Repo
			if tt.whileOpen {
				m = mirror(t, c.f.Bare, dir)
			}
			tt.damage(t, dir)
			if !tt.whileOpen {
				m = mirror(t, c.f.Bare, dir)
			}
			if err := m.Fetch(ctx); err != nil {
				t.Fatalf("fetch: %v", err)
			}
			assertBranches(t, m, map[string]string{"main": c.two})
			if len(m.Repairs()) == 0 {
				t.Errorf("no repair reported")
			}
			// Export reads through a handle of its own, which loads every
			// pack index from the disk: the restarted agent's checkouts
			// failed there.
			for _, sha := range []string{c.one, c.two} {
				if err := m.Export(ctx, sha, filepath.Join(t.TempDir(), "checkout")); err != nil {
					t.Errorf("export %s: %v", sha, err)
				}
			}
			reopened := mirror(t, c.f.Bare, dir)
			assertBranches(t, reopened, map[string]string{"main": c.two})
			if fixes := reopened.Repairs(); len(fixes) != 0 {
				t.Errorf("the repaired mirror was repaired again: %q", fixes)
			}
			assertNoTemp(t, filepath.Dir(dir))
		})
	}
}

// TestMirrorClonedAgainKeepsMarkers: a mirror that cannot be read even
// after repair, when opened or when a fetch fails, is cloned again, and
// keeps its published markers (which only the mirror holds) when the
// remote still has their commits.
func TestMirrorClonedAgainKeepsMarkers(t *testing.T) {
	c := newCrashFixture(t)
	for _, whileOpen := range []bool{false, true} {
		t.Run(map[bool]string{false: "at open", true: "at fetch"}[whileOpen], func(t *testing.T) {
			ctx := context.Background()
			dir := filepath.Join(t.TempDir(), "code.git")
			copyDir(t, c.after, dir)
			m := mirror(t, c.f.Bare, dir)
			if err := m.SetPublished("main", c.one); err != nil {
				t.Fatal(err)
			}
			// A pack that does not parse cannot be reindexed: it is
			// removed, and the branch that needed it dangles.
			writeFile(t, filepath.Join(dir, c.pack+".pack"), c.packData[:len(c.packData)/2])
			writeFile(t, filepath.Join(dir, c.pack+".idx"), nil)
			if !whileOpen {
				m = mirror(t, c.f.Bare, dir)
			}
			if err := m.Fetch(ctx); err != nil {
				t.Fatalf("fetch: %v", err)
			}
			// This process's handle may still hold the index it loaded
			// before the damage: the fetch is then up to date, and the
			// export, which reads afresh, finds the damage.
			if err := m.Export(ctx, c.two, filepath.Join(t.TempDir(), "checkout")); err != nil {
				t.Errorf("export: %v", err)
			}
			fixes := m.Repairs()
			if !strings.Contains(strings.Join(fixes, "\n"), "cloned again") {
				t.Errorf("repairs %q do not say the mirror was cloned again", fixes)
			}
			assertBranches(t, m, map[string]string{"main": c.two})
			if sha, ok, err := m.Published("main"); err != nil || !ok || sha != c.one {
				t.Errorf("published marker of main = %s, %v, %v; want %s", sha, ok, err, c.one)
			}
			assertNoTemp(t, filepath.Dir(dir))
		})
	}
}

// TestMirrorRemovesUnfinishedClone: a clone cut short by a crash is removed
// by the next Mirror, which clones again.
func TestMirrorRemovesUnfinishedClone(t *testing.T) {
	c := newCrashFixture(t)
	parent := t.TempDir()
	dir := filepath.Join(parent, "code.git")
	copyDir(t, c.before, filepath.Join(parent, "code.git.tmp-123"))
	m := mirror(t, c.f.Bare, dir)
	assertBranches(t, m, map[string]string{"main": c.two})
	assertNoTemp(t, parent)
}

func mirror(t *testing.T, url, dir string) *gitrepo.Repo {
	t.Helper()
	m, err := gitrepo.Mirror(context.Background(), url, dir)
	if err != nil {
		t.Fatalf("mirror: %v", err)
	}
	return m
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	if err := os.CopyFS(to, os.DirFS(from)); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// writeFile replaces path's content, read-only files (packs, indexes)
// included.
func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o444); err != nil {
		t.Fatal(err)
	}
}
