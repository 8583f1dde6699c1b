package gitrepo

import (
	"fmt"
	"io"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// Change is a regular file that a commit adds or changes.
type Change struct {
	Path string
	// Before is the content at the other revision; nil for a new file.
	Before []byte
	After  []byte
}

// Changes returns the regular files that keep says to keep and that to
// adds or changes relative to from (every file of to when from is ""),
// with both contents, by a tree diff: only those files are read. An
// unknown revision wraps ErrUnknownRevision.
func (r *Repo) Changes(from, to string, keep func(path string) bool) ([]Change, error) {
	var out []Change
	err := r.do(func(g *git.Repository) error {
		toTree, err := treeOf(g, to)
		if err != nil {
			return err
		}
		var fromTree *object.Tree
		if from != "" {
			if fromTree, err = treeOf(g, from); err != nil {
				return err
			}
		}
		diffs, err := object.DiffTree(fromTree, toTree)
		if err != nil {
			return err
		}
		for _, d := range diffs {
			if d.To.Name == "" || !d.To.TreeEntry.Mode.IsFile() || !keep(d.To.Name) {
				continue // deleted, or not wanted
			}
			c := Change{Path: d.To.Name}
			if c.After, err = blob(toTree, d.To.Name); err != nil {
				return err
			}
			if d.From.Name != "" && d.From.TreeEntry.Mode.IsFile() {
				if c.Before, err = blob(fromTree, d.From.Name); err != nil {
					return err
				}
			}
			out = append(out, c)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("changes from %s to %s: %w", from, to, err)
	}
	return out, nil
}

func treeOf(g *git.Repository, rev string) (*object.Tree, error) {
	h, err := resolve(g, rev)
	if err != nil {
		return nil, err
	}
	c, err := g.CommitObject(h)
	if err != nil {
		return nil, err
	}
	return c.Tree()
}

func blob(t *object.Tree, path string) ([]byte, error) {
	f, err := t.File(path)
	if err != nil {
		return nil, err
	}
	rd, err := f.Reader()
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	return io.ReadAll(rd)
}
