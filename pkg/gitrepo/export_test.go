package gitrepo_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/balcony-dev/balcony/pkg/gitrepo"
	"github.com/balcony-dev/balcony/pkg/gitrepo/gittest"
)

// exportFixture commits a regular file, an executable, a symlink, a nested
// directory and a submodule, and returns the repository and the sha.
func exportFixture(t *testing.T) (*gittest.Fixture, *gitrepo.Repo, string) {
	f := gittest.New(t)
	f.Commit("files", map[string]string{
		"manifests/site.pp":        "node default {}\n",
		"modules/ntp/files/run.sh": "#!/bin/sh\n",
	})
	if err := os.Chmod(filepath.Join(f.Work, "modules/ntp/files/run.sh"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("manifests/site.pp", filepath.Join(f.Work, "link.pp")); err != nil {
		t.Fatal(err)
	}
	f.Git("add", "-A")
	f.Git("update-index", "--add", "--cacheinfo", "160000,"+f.Rev("HEAD")+",vendor/sub")
	sha := f.Commit("modes", nil)
	f.Push("main")
	repo, err := gitrepo.Open(f.Bare)
	if err != nil {
		t.Fatal(err)
	}
	return f, repo, sha
}

func TestExport(t *testing.T) {
	_, repo, sha := exportFixture(t)
	dir := filepath.Join(t.TempDir(), "co", sha)
	if err := repo.Export(context.Background(), sha, dir); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path    string
		mode    fs.FileMode
		content string // file content or symlink target
	}{
		{path: ".", mode: fs.ModeDir | 0o755},
		{path: "manifests", mode: fs.ModeDir | 0o755},
		{path: "manifests/site.pp", mode: 0o644, content: "node default {}\n"},
		{path: "modules/ntp/files/run.sh", mode: 0o755, content: "#!/bin/sh\n"},
		{path: "link.pp", mode: fs.ModeSymlink | 0o777, content: "manifests/site.pp"},
		{path: "vendor", mode: fs.ModeDir | 0o755},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			p := filepath.Join(dir, tt.path)
			fi, err := os.Lstat(p)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode() != tt.mode {
				t.Errorf("mode %v, want %v", fi.Mode(), tt.mode)
			}
			var got string
			switch {
			case fi.Mode()&fs.ModeSymlink != 0:
				got, err = os.Readlink(p)
			case fi.Mode().IsRegular():
				var b []byte
				b, err = os.ReadFile(p)
				got = string(b)
			}
			if err != nil || got != tt.content {
				t.Errorf("content %q (%v), want %q", got, err, tt.content)
			}
		})
	}
	if _, err := os.Lstat(filepath.Join(dir, "vendor/sub")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("submodule written: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(dir, ".git")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf(".git written: %v", err)
	}
	assertNoTemp(t, filepath.Dir(dir))
}

func TestExportErrors(t *testing.T) {
	_, repo, sha := exportFixture(t)
	existing := t.TempDir()
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		rev  string
		dir  string
		want error
	}{
		{name: "unknown revision", ctx: context.Background(), rev: "deadbeef", dir: filepath.Join(t.TempDir(), "x"), want: gitrepo.ErrUnknownRevision},
		{name: "existing directory", ctx: context.Background(), rev: sha, dir: existing, want: fs.ErrExist},
		{name: "cancelled", ctx: cancelled, rev: sha, dir: filepath.Join(t.TempDir(), "y"), want: context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := repo.Export(tt.ctx, tt.rev, tt.dir)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "export ") {
				t.Errorf("error lacks context: %v", err)
			}
			assertNoTemp(t, filepath.Dir(tt.dir))
		})
	}
}

func TestExportConcurrent(t *testing.T) {
	f, repo, sha := exportFixture(t)
	first := f.Rev("HEAD~1")
	root := t.TempDir()
	errs := make(chan error, 8)
	for i := range 8 {
		rev := []string{sha, first}[i%2]
		go func() { errs <- repo.Export(context.Background(), rev, filepath.Join(root, string(rune('a'+i)))) }()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

func assertNoTemp(t *testing.T, dir string) {
	t.Helper()
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary directory left: %s", e.Name())
		}
	}
}

// TestExportUnsafePath: a hostile tree (made with git mktree, which checks
// no names) is refused and leaves nothing behind.
func TestExportUnsafePath(t *testing.T) {
	for _, name := range []string{".git", ".GIT", ".."} {
		t.Run(name, func(t *testing.T) {
			f := gittest.New(t)
			f.Commit("readme", map[string]string{"README": "x"})
			blob := f.Rev("HEAD:README")
			tree := runStdin(t, f, "100644 blob "+blob+"\t"+name+"\n", "mktree")
			commit := f.Git("commit-tree", "-m", "hostile", tree)
			repo, err := gitrepo.Open(f.Work)
			if err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(t.TempDir(), "co")
			if err := repo.Export(context.Background(), commit, dir); !errors.Is(err, gitrepo.ErrUnsafePath) {
				t.Fatalf("err = %v, want ErrUnsafePath", err)
			}
			if _, err := os.Lstat(dir); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("dir exists: %v", err)
			}
			assertNoTemp(t, filepath.Dir(dir))
		})
	}
}

func runStdin(t *testing.T, f *gittest.Fixture, stdin string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = f.Work
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git %v: %v", args, err)
	}
	return strings.TrimSpace(string(out))
}
