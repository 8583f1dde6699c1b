package fleetsim

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// Author is the author of the commits NewRepo makes.
const (
	AuthorName  = "Bench Mark"
	AuthorEmail = "bench@example.com"
)

// NewRepo creates a git repository in dir (a work tree on branch main)
// holding a first-parent chain of n commits, each changing
// manifests/site.pp, with a CODEOWNERS giving everything to @bench. It
// returns the shas, oldest first. Commit times are fixed, so the shas are
// the same on every run. A nooper or approver mirrors it with
// gitrepo.Mirror(ctx, dir, ...).
func NewRepo(dir string, n int) ([]string, error) {
	g, err := git.PlainInitWithOptions(dir, &git.PlainInitOptions{
		InitOptions: git.InitOptions{DefaultBranch: plumbing.NewBranchReferenceName("main")},
	})
	if err != nil {
		return nil, fmt.Errorf("new repository: %w", err)
	}
	wt, err := g.Worktree()
	if err != nil {
		return nil, fmt.Errorf("new repository: %w", err)
	}
	files := map[string]string{
		"CODEOWNERS":        "* @bench\n",
		"environment.conf":  "manifest = manifests\n",
		"manifests/site.pp": "",
	}
	epoch := time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC)
	shas := make([]string, 0, n)
	for i := range n {
		files["manifests/site.pp"] = fmt.Sprintf("# commit %d\nnode default {}\n", i)
		for name, content := range files {
			path := filepath.Join(dir, filepath.FromSlash(name))
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				return nil, err
			}
			if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
				return nil, err
			}
			if _, err := wt.Add(name); err != nil {
				return nil, fmt.Errorf("new repository: add %s: %w", name, err)
			}
		}
		sig := &object.Signature{Name: AuthorName, Email: AuthorEmail, When: epoch.Add(time.Duration(i) * time.Minute)}
		h, err := wt.Commit(fmt.Sprintf("commit %d", i), &git.CommitOptions{Author: sig, Committer: sig})
		if err != nil {
			return nil, fmt.Errorf("new repository: commit %d: %w", i, err)
		}
		shas = append(shas, h.String())
	}
	return shas, nil
}
