package gitrepo

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
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
func Mirror(ctx context.Context, url, dir string) (*Repo, error) {
	if abs, err := filepath.Abs(url); err == nil {
		if _, err := os.Stat(abs); err == nil {
			url = abs // a local path; go-git resolves relative ones poorly
		}
	}
	if _, err := os.Stat(dir); err == nil {
		return openMirror(url, dir)
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return nil, fmt.Errorf("mirror %s: %w", url, err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), filepath.Base(dir)+tmpInfix+"*")
	if err != nil {
		return nil, fmt.Errorf("mirror %s: %w", url, err)
	}
	if err := cloneMirror(ctx, url, tmp); err != nil {
		_ = os.RemoveAll(tmp) // the clone error matters more
		return nil, fmt.Errorf("mirror %s into %s: %w", url, dir, err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		_ = os.RemoveAll(tmp)
		return nil, fmt.Errorf("mirror %s into %s: %w", url, dir, err)
	}
	return Open(dir)
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

func openMirror(url, dir string) (*Repo, error) {
	r, err := Open(dir)
	if err != nil {
		return nil, fmt.Errorf("mirror %s: %w", url, err)
	}
	err = r.do(func(g *git.Repository) error {
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
		return g.Storer.SetConfig(cfg)
	})
	if err != nil {
		return nil, fmt.Errorf("mirror %s at %s: %w", url, dir, err)
	}
	return r, nil
}

// Fetch updates every branch from the mirror's remote, pruning branches
// deleted there; being up to date already, or the remote having no
// branch yet, is not an error. It blocks until
// the fetch ends or ctx does.
func (r *Repo) Fetch(ctx context.Context) error {
	if err := r.do(func(g *git.Repository) error { return fetch(ctx, g) }); err != nil {
		return fmt.Errorf("fetch into %s: %w", r.path, err)
	}
	return nil
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
