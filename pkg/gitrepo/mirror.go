package gitrepo

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"
)

// ErrNotBare: a mirror directory holds a repository that is not bare.
var ErrNotBare = errors.New("not a bare repository")

const remoteName = "origin"

// mirrorSpec copies every branch of the remote onto the same branch here.
var mirrorSpec = config.RefSpec("+refs/heads/*:refs/heads/*")

// Mirror opens the bare mirror of url at dir, or clones it there when dir
// does not exist. url is a local path or any URL go-git can fetch from
// (local paths go through go-git's file transport, which runs
// git-upload-pack). The clone copies every branch (refspec
// +refs/heads/*:refs/heads/*) and no tags; it is built in a temporary
// sibling directory and renamed into place, so dir never holds a half
// clone. An existing mirror is not fetched (call Fetch); its remote is
// pointed at url if it pointed elsewhere. A dir holding a non-bare
// repository wraps ErrNotBare.
//
// A mirror comes back from its process being killed at any point, a full
// disk or a lost write: opening it removes or rebuilds what an interrupted
// write left (see repair), then reads every pack index and the object of
// every ref; a mirror still unreadable is cloned again, keeping the refs
// outside refs/heads (the published markers) whose commits the new clone
// has (when that clone fails too, the error wraps ErrCorrupt). Fetch and
// Export do the same when they fail. Repairs says what was done. A mirror
// belongs to one process at a time.
func Mirror(ctx context.Context, url, dir string) (*Repo, error) {
	if abs, err := filepath.Abs(url); err == nil {
		if _, err := os.Stat(abs); err == nil {
			url = abs // a local path; go-git resolves relative ones poorly
		}
	}
	// Clones cut short by a crash: the mirror is this process's alone.
	stale, err := filepath.Glob(filepath.Join(filepath.Dir(dir), filepath.Base(dir)+tmpInfix+"*"))
	if err != nil {
		return nil, fmt.Errorf("mirror %s: %w", url, err)
	}
	for _, path := range stale {
		if err := os.RemoveAll(path); err != nil {
			return nil, fmt.Errorf("mirror %s: remove an unfinished clone: %w", url, err)
		}
	}
	if _, err := os.Stat(dir); err == nil {
		return openMirror(ctx, url, dir)
	}
	tmp, err := cloneBeside(ctx, url, dir)
	if err != nil {
		return nil, fmt.Errorf("mirror %s into %s: %w", url, dir, err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		_ = os.RemoveAll(tmp)
		return nil, fmt.Errorf("mirror %s into %s: %w", url, dir, err)
	}
	r, err := Open(dir)
	if err != nil {
		return nil, err
	}
	r.mirrorURL, r.upkeep = url, Upkeep{PackLimit: AutoPackLimit}
	return r, nil
}

// cloneBeside clones url into a new temporary sibling of dir and returns
// its path; it removes it on failure.
func cloneBeside(ctx context.Context, url, dir string) (string, error) {
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), filepath.Base(dir)+tmpInfix+"*")
	if err != nil {
		return "", err
	}
	if err := cloneMirror(ctx, url, tmp); err != nil {
		_ = os.RemoveAll(tmp) // the clone error matters more
		return "", err
	}
	return tmp, nil
}

func cloneMirror(ctx context.Context, url, dir string) error {
	g, err := git.PlainInit(dir, true)
	if err != nil {
		return err
	}
	if _, err := g.CreateRemote(&config.RemoteConfig{
		Name:  remoteName,
		URLs:  []string{url},
		Fetch: []config.RefSpec{mirrorSpec},
	}); err != nil {
		return err
	}
	return fetch(ctx, g)
}

func openMirror(ctx context.Context, url, dir string) (*Repo, error) {
	fixes, err := repair(dir)
	if err != nil {
		return nil, fmt.Errorf("mirror %s: repair %s: %w", url, dir, err)
	}
	r, err := Open(dir)
	if err != nil {
		return nil, fmt.Errorf("mirror %s: %w", url, err)
	}
	// Checked before verify, so that a work tree is never cloned over.
	if err := r.setRemote(url); err != nil {
		_ = r.Close() // the remote's error matters more
		return nil, fmt.Errorf("mirror %s at %s: %w", url, dir, err)
	}
	if bad := verify(dir); bad != nil {
		// Its files are about to be replaced: let go of them first.
		_ = r.Close()
		fix, err := reclone(ctx, url, dir)
		if err != nil {
			return nil, fmt.Errorf("mirror %s at %s: %w; clone it again: %w", url, dir, bad, err)
		}
		fixes = append(fixes, fmt.Sprintf("%v: %s", bad, fix))
		if r, err = Open(dir); err != nil {
			return nil, fmt.Errorf("mirror %s: %w", url, err)
		}
	}
	r.mirrorURL, r.repairs, r.upkeep = url, fixes, Upkeep{PackLimit: AutoPackLimit}
	return r, nil
}

// setRemote points the mirror's remote at url. The config is written to a
// temporary file and renamed (go-git's SetConfig rewrites it in place, and
// a crash then would leave a repository that is no longer bare).
func (r *Repo) setRemote(url string) error {
	return r.do(func(g *git.Repository) error {
		cfg, err := g.Config()
		if err != nil {
			return err
		}
		if !cfg.Core.IsBare {
			return ErrNotBare
		}
		rc := cfg.Remotes[remoteName]
		if rc != nil && len(rc.URLs) == 1 && rc.URLs[0] == url &&
			len(rc.Fetch) == 1 && rc.Fetch[0] == mirrorSpec {
			return nil
		}
		cfg.Remotes[remoteName] = &config.RemoteConfig{
			Name:  remoteName,
			URLs:  []string{url},
			Fetch: []config.RefSpec{mirrorSpec},
		}
		if err := cfg.Validate(); err != nil {
			return err
		}
		data, err := cfg.Marshal()
		if err != nil {
			return err
		}
		return WriteFileAtomic(filepath.Join(r.path, "config"), data, 0o644)
	})
}

// reclone replaces the mirror at dir by a new clone of url, carrying over
// the refs outside refs/heads whose objects the clone has, and says what it
// did. The two directories cannot be swapped in one step: a crash between
// the renames leaves no dir, and the next Mirror clones again.
func reclone(ctx context.Context, url, dir string) (string, error) {
	tmp, err := cloneBeside(ctx, url, dir)
	if err != nil {
		return "", err
	}
	fix, err := carryRefs(dir, tmp)
	if err != nil {
		_ = os.RemoveAll(tmp)
		return "", err
	}
	old := tmp + "-corrupt"
	if err := os.Rename(dir, old); err != nil {
		_ = os.RemoveAll(tmp)
		return "", err
	}
	if err := os.Rename(tmp, dir); err != nil {
		return "", err
	}
	if err := os.RemoveAll(old); err != nil {
		return "", err
	}
	return "cloned again" + fix, nil
}

// carryRefs copies the refs of the repository at from that are neither
// branches nor HEAD into the repository at to, when to has their objects.
// A from whose refs cannot be read is skipped, and said so.
func carryRefs(from, to string) (string, error) {
	old, err := git.PlainOpen(from)
	if err != nil {
		return fmt.Sprintf(", the old refs unreadable (%v)", err), nil
	}
	refs, err := old.Storer.IterReferences()
	if err != nil {
		return fmt.Sprintf(", the old refs unreadable (%v)", err), nil
	}
	g, err := git.PlainOpen(to)
	if err != nil {
		return "", err
	}
	var kept, dropped []string
	err = refs.ForEach(func(ref *plumbing.Reference) error {
		if ref.Type() != plumbing.HashReference || ref.Name().IsBranch() || ref.Name() == plumbing.HEAD {
			return nil
		}
		if g.Storer.HasEncodedObject(ref.Hash()) != nil {
			dropped = append(dropped, ref.Name().String())
			return nil
		}
		kept = append(kept, ref.Name().String())
		return g.Storer.SetReference(ref)
	})
	if err != nil {
		return "", fmt.Errorf("carry refs over: %w", err)
	}
	fix := fmt.Sprintf(", keeping %d refs outside refs/heads", len(kept))
	if len(dropped) > 0 {
		fix += fmt.Sprintf(" and dropping %v, whose objects the remote no longer has", dropped)
	}
	return fix, nil
}

// Fetch updates every branch from the mirror's remote, pruning branches
// deleted there; being up to date already, or the remote having no
// branch yet, is not an error. It blocks until the fetch ends or ctx does.
//
// On a mirror, leftovers of an interrupted pack write are removed before
// each fetch; when a fetch fails, the mirror is repaired as Mirror does
// (cloned again if it is unreadable), and fetched once more if anything
// was put right. A mirror holding more packs than its Upkeep allows merges
// them after the fetch (Tidy).
func (r *Repo) Fetch(ctx context.Context) error {
	if err := r.fetchOrRepair(ctx); err != nil {
		return err
	}
	r.Tidy(ctx)
	return nil
}

func (r *Repo) fetchOrRepair(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	err := r.doLocked(func(g *git.Repository) error { return r.fetchLocked(ctx, g) })
	if err != nil && r.mirrorURL != "" && ctx.Err() == nil {
		fixed, rerr := r.recoverLocked(ctx)
		switch {
		case rerr != nil:
			err = fmt.Errorf("%w; repair: %w", err, rerr)
		case fixed:
			err = r.fetchLocked(ctx, r.g)
		}
	}
	if err != nil {
		return fmt.Errorf("fetch into %s: %w", r.path, err)
	}
	return nil
}

// fetchLocked fetches into g, which is r.g, under r.mu.
func (r *Repo) fetchLocked(ctx context.Context, g *git.Repository) error {
	// A merge of packs at work (Compact) has its temporary pack in
	// objects/pack: leftovers are looked for only when none is.
	if r.mirrorURL != "" && r.compacting.TryLock() {
		fixes, err := cleanPacks(r.path)
		r.compacting.Unlock()
		r.repairs = append(r.repairs, fixes...)
		if err != nil {
			return err
		}
	}
	return fetch(ctx, g)
}

// recoverLocked repairs the mirror, clones it again when it is still
// unreadable, and reopens it when anything changed, under r.mu. It tells
// whether anything was put right.
func (r *Repo) recoverLocked(ctx context.Context) (bool, error) {
	// repair and reclone may remove or replace packs: close the kept ones
	// first (when nothing changes, the storage opens them again on reading).
	_ = closeStorage(r.g) // read-only files; see reload
	fixes, err := repair(r.path)
	r.repairs = append(r.repairs, fixes...)
	if err != nil {
		return false, err
	}
	if bad := verify(r.path); bad != nil {
		fix, err := reclone(ctx, r.mirrorURL, r.path)
		if err != nil {
			return false, fmt.Errorf("%w; clone it again: %w", bad, err)
		}
		fixes = append(fixes, fmt.Sprintf("%v: %s", bad, fix))
		r.repairs = append(r.repairs, fixes[len(fixes)-1])
	}
	if len(fixes) == 0 {
		return false, nil
	}
	g, err := openKeep(r.path)
	if err != nil {
		return false, err
	}
	r.replaceLocked(g)
	return true, nil
}

// heal checks a mirror as a fresh reader sees it and, when that fails,
// repairs it as a failed fetch does. It tells whether anything was put
// right; a repository not opened by Mirror is left alone.
func (r *Repo) heal(ctx context.Context) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.mirrorURL == "" || verify(r.path) == nil {
		return false, nil
	}
	return r.recoverLocked(ctx)
}

// Repairs returns what was put right in the mirror since the last call
// (when it was opened, before or after a fetch), one line each.
func (r *Repo) Repairs() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.repairs
	r.repairs = nil
	return out
}

func fetch(ctx context.Context, g *git.Repository) error {
	err := g.FetchContext(ctx, &git.FetchOptions{
		RemoteName: remoteName,
		RefSpecs:   []config.RefSpec{mirrorSpec},
		Tags:       git.NoTags,
		Force:      true,
		Prune:      true,
	})
	if errors.Is(err, git.NoErrAlreadyUpToDate) || errors.Is(err, transport.ErrEmptyRemoteRepository) {
		return nil
	}
	return err
}
