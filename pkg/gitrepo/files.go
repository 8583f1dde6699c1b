package gitrepo

import (
	"fmt"
	"io"
	"strings"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// Files returns the content of the regular files of commit rev that keep
// says to keep, by path. It reads objects only (no checkout), which is how
// the approver reads CODEOWNERS and node files at a commit's first parent.
// An unknown revision wraps ErrUnknownRevision.
func (r *Repo) Files(rev string, keep func(path string) bool) (map[string][]byte, error) {
	var out map[string][]byte
	err := r.do(func(g *git.Repository) error {
		out = map[string][]byte{}
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
			return err
		}
		return tree.Files().ForEach(func(f *object.File) error {
			if !f.Mode.IsFile() || !keep(f.Name) {
				return nil
			}
			rd, err := f.Reader()
			if err != nil {
				return err
			}
			defer rd.Close()
			data, err := io.ReadAll(rd)
			if err != nil {
				return err
			}
			out[f.Name] = data
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("read files of %s: %w", rev, err)
	}
	return out, nil
}

// Under keeps the paths inside any of dirs, and the paths listed in files.
func Under(dirs []string, files ...string) func(string) bool {
	return func(p string) bool {
		for _, f := range files {
			if p == f {
				return true
			}
		}
		for _, d := range dirs {
			if strings.HasPrefix(p, strings.TrimSuffix(d, "/")+"/") {
				return true
			}
		}
		return false
	}
}
