package gitrepo

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/go-git/go-git/v5"
)

// Local opens the bare repository at dir, creating it empty when dir does
// not exist. It is the agent's copy of the code when the code comes from the
// bus (pkg/codebus) and no git server is reachable: a repository with no
// remote, filled only with verified packs.
//
// Like a mirror it comes back from its process being killed at any point:
// opening it removes what an interrupted write left (see repair). A
// repository still unreadable cannot be cloned again, having no remote: it
// is set aside as dir.corrupt-* and an empty one takes its place, which the
// bus fills again (a full pack). Repairs says what was done. A new
// repository is built in a temporary sibling and renamed into place, so
// dir never holds half a repository.
func Local(dir string) (*Repo, error) {
	if _, err := os.Stat(dir); err != nil {
		if err := initBeside(dir); err != nil {
			return nil, fmt.Errorf("create repository %s: %w", dir, err)
		}
		r, err := Open(dir)
		if err != nil {
			return nil, err
		}
		r.upkeep = Upkeep{PackLimit: AutoPackLimit}
		return r, nil
	}
	fixes, err := repair(dir)
	if err != nil {
		return nil, fmt.Errorf("repair %s: %w", dir, err)
	}
	if bad := verify(dir); bad != nil {
		aside, err := os.MkdirTemp(filepath.Dir(dir), filepath.Base(dir)+".corrupt-")
		if err != nil {
			return nil, fmt.Errorf("%s: %w; set it aside: %w", dir, bad, err)
		}
		if err := os.Rename(dir, filepath.Join(aside, "repo.git")); err != nil {
			return nil, fmt.Errorf("%s: %w; set it aside: %w", dir, bad, err)
		}
		if err := initBeside(dir); err != nil {
			return nil, fmt.Errorf("%s: %w; create a new one: %w", dir, bad, err)
		}
		fixes = append(fixes, fmt.Sprintf("%v: set aside in %s, started empty", bad, aside))
	}
	r, err := Open(dir)
	if err != nil {
		return nil, err
	}
	r.repairs, r.upkeep = fixes, Upkeep{PackLimit: AutoPackLimit}
	return r, nil
}

// initBeside creates an empty bare repository at dir through a temporary
// sibling renamed into place.
func initBeside(dir string) error {
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), filepath.Base(dir)+tmpInfix+"*")
	if err != nil {
		return err
	}
	if _, err := git.PlainInit(tmp, true); err != nil {
		_ = os.RemoveAll(tmp) // the init error matters more
		return err
	}
	if err := os.Rename(tmp, dir); err != nil {
		_ = os.RemoveAll(tmp)
		return err
	}
	return nil
}
