package gitrepo

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLocal: a local repository is created empty and bare, opened again as
// it was, and one left unreadable is set aside for an empty one.
func TestLocal(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state", "code.git")
	r, err := Local(dir)
	if err != nil {
		t.Fatal(err)
	}
	if bare, err := r.Bare(); err != nil || !bare {
		t.Fatalf("bare %v, %v", bare, err)
	}
	if _, err := r.Resolve("main"); err == nil {
		t.Error("a new local repository resolves main")
	}
	if fixes := r.Repairs(); len(fixes) != 0 {
		t.Errorf("repairs of a new repository: %q", fixes)
	}
	if _, err := Local(dir); err != nil {
		t.Fatalf("open again: %v", err)
	}

	// A pack index that is not one: unreadable.
	pack := filepath.Join(dir, "objects", "pack")
	if err := os.WriteFile(filepath.Join(pack, "pack-0000000000000000000000000000000000000000.idx"), []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(pack, "pack-0000000000000000000000000000000000000000.pack"), []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err = Local(dir)
	if err != nil {
		t.Fatalf("open a damaged repository: %v", err)
	}
	fixes := strings.Join(r.Repairs(), "\n")
	if fixes == "" {
		t.Fatal("no repair said of a damaged repository")
	}
	if entries, _ := os.ReadDir(pack); len(entries) != 0 {
		t.Errorf("the new repository's packs: %v, want none", entries)
	}
}
