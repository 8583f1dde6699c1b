package gitrepo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// ErrUnsafePath: a tree holds a path that cannot be written safely (".",
// "..", ".git", an empty name).
var ErrUnsafePath = errors.New("unsafe path in tree")

// tmpInfix separates a directory's name from the random suffix of the
// temporary directory it is built in.
const tmpInfix = ".tmp-"

// Export writes the tree of the commit rev names into dir, which must not
// exist: directories 0755, regular files 0644, executables 0755, symlinks
// as symlinks; submodules are skipped. It builds the tree in a sibling
// dir+".tmp-<random>" and renames it to dir, so dir is either absent or
// complete, even after a crash (a leftover temporary directory may remain;
// CheckoutCache removes old ones). dir's parent is created when missing.
//
// Export reads through its own go-git handle and touches no index or
// worktree, so exports run concurrently with each other and with the other
// methods. It returns an error wrapping ErrUnknownRevision for an unknown
// rev, fs.ErrExist when dir exists, ErrUnsafePath for a hostile tree, and
// ctx.Err() when ctx ends first (the temporary directory is then removed).
//
// On a mirror, a failed export checks the mirror as a fresh reader sees it
// (this process's handle may hold an index the disk no longer has right)
// and, when that fails, repairs it as Fetch does and exports once more.
func (r *Repo) Export(ctx context.Context, rev, dir string) error {
	err := r.export(ctx, rev, dir)
	if err != nil && !errors.Is(err, fs.ErrExist) && !errors.Is(err, ErrUnsafePath) && ctx.Err() == nil {
		if healed, herr := r.heal(ctx); herr != nil {
			err = fmt.Errorf("%w; repair: %w", err, herr)
		} else if healed {
			err = r.export(ctx, rev, dir)
		}
	}
	if err != nil {
		return fmt.Errorf("export %s to %s: %w", rev, dir, err)
	}
	return nil
}

func (r *Repo) export(ctx context.Context, rev, dir string) (err error) {
	if _, err := os.Lstat(dir); err == nil {
		return fs.ErrExist
	}
	g, err := git.PlainOpen(r.path)
	if err != nil {
		return err
	}
	h, err := resolve(g, rev)
	if err != nil {
		return err
	}
	commit, err := g.CommitObject(h)
	if err != nil {
		return err
	}
	tree, err := commit.Tree()
	if err != nil {
		return fmt.Errorf("read tree: %w", err)
	}
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(parent, filepath.Base(dir)+tmpInfix+"*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = os.RemoveAll(tmp) // the first error matters more
		}
	}()
	if err := writeTree(ctx, g, tree, tmp); err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	return os.Rename(tmp, dir)
}

// writeTree writes tree under root, which exists and is empty. Directories
// come before their entries in the walk; every path is created exclusively
// (os.Mkdir, O_EXCL, os.Symlink), so a write never follows a symlink made
// by an earlier entry.
func writeTree(ctx context.Context, g *git.Repository, tree *object.Tree, root string) error {
	w := object.NewTreeWalker(tree, true, nil)
	defer w.Close()
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		name, entry, err := w.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil && strings.HasPrefix(err.Error(), "invalid path") {
			// go-git validates tree entry names itself, with no sentinel.
			return fmt.Errorf("walk tree: %w: %v", ErrUnsafePath, err)
		}
		if err != nil {
			return fmt.Errorf("walk tree: %w", err)
		}
		if err := checkPath(name); err != nil {
			return err
		}
		path := filepath.Join(root, filepath.FromSlash(name))
		switch entry.Mode {
		case filemode.Dir:
			err = os.Mkdir(path, 0o755)
		case filemode.Submodule:
			continue
		case filemode.Symlink:
			err = writeSymlink(g, entry, path)
		case filemode.Regular, filemode.Deprecated:
			err = writeFile(g, entry, path, 0o644)
		case filemode.Executable:
			err = writeFile(g, entry, path, 0o755)
		default:
			err = fmt.Errorf("unsupported mode %s", entry.Mode)
		}
		if err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
	}
}

// checkPath refuses the names git itself refuses to check out.
func checkPath(name string) error {
	for _, part := range strings.Split(name, "/") {
		if part == "" || part == "." || part == ".." || strings.EqualFold(part, ".git") ||
			strings.ContainsAny(part, "\\\x00") {
			return fmt.Errorf("%q: %w", name, ErrUnsafePath)
		}
	}
	return nil
}

func writeFile(g *git.Repository, entry object.TreeEntry, path string, perm os.FileMode) (err error) {
	blob, err := g.BlobObject(entry.Hash)
	if err != nil {
		return err
	}
	src, err := blob.Reader()
	if err != nil {
		return err
	}
	defer src.Close()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	if _, err := io.Copy(f, src); err != nil {
		return err
	}
	return f.Chmod(perm) // exact bits, whatever the umask
}

func writeSymlink(g *git.Repository, entry object.TreeEntry, path string) error {
	blob, err := g.BlobObject(entry.Hash)
	if err != nil {
		return err
	}
	src, err := blob.Reader()
	if err != nil {
		return err
	}
	defer src.Close()
	target, err := io.ReadAll(io.LimitReader(src, 4096))
	if err != nil {
		return err
	}
	return os.Symlink(string(target), path)
}
