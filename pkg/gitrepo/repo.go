// Package gitrepo reads the Puppet code repository with go-git: it opens or
// mirrors a repository, lists the commits a push brings, exports a commit's
// tree into a clean directory, and keeps balcony's "published" markers as
// refs inside the repository. It never runs the git command line and never
// touches an index or a worktree, so several callers may export at once.
//
// Every method of Repo is safe for concurrent use. A Repo notices objects
// and packs written by other processes (a push into the repository it
// reads, a gc) without being reopened.
package gitrepo

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/storage"
	"github.com/go-git/go-git/v5/storage/filesystem/dotgit"
)

// Errors a caller may branch on. Returned errors wrap them with context.
var (
	// ErrUnknownRevision: a revision names no commit of the repository.
	ErrUnknownRevision = errors.New("unknown revision")
	// ErrNotRepository: a path holds no git repository.
	ErrNotRepository = errors.New("not a git repository")
	// ErrTooManyCommits: a walk went past its limit.
	ErrTooManyCommits = errors.New("too many commits")
	// ErrInvalidBranch: a branch name git would refuse.
	ErrInvalidBranch = errors.New("invalid branch name")
)

// PublishedPrefix is the ref namespace of the published markers: the marker
// of branch b is PublishedPrefix + b.
const PublishedPrefix = "refs/balcony/published/"

// Repo is a local git repository, bare or not, read with go-git.
type Repo struct {
	path string

	mu sync.Mutex // guards the fields below: go-git's storage is not safe for concurrent use
	g  *git.Repository
	// mirrorURL is the remote of a repository opened by Mirror, which
	// repairs it; empty otherwise.
	mirrorURL string
	repairs   []string // what was put right, for Repairs
}

// Open opens the bare or non-bare repository at path. It returns an error
// wrapping ErrNotRepository when path holds none.
func Open(path string) (*Repo, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open repository %s: %w", path, err)
	}
	g, err := git.PlainOpen(abs)
	if errors.Is(err, git.ErrRepositoryNotExists) {
		return nil, fmt.Errorf("open repository %s: %w", path, ErrNotRepository)
	}
	if err != nil {
		return nil, fmt.Errorf("open repository %s: %w", path, err)
	}
	return &Repo{path: abs, g: g}, nil
}

// Path is the absolute path the repository was opened at.
func (r *Repo) Path() string { return r.path }

// Bare tells whether the repository is bare (core.bare = true).
func (r *Repo) Bare() (bool, error) {
	var bare bool
	err := r.do(func(g *git.Repository) error {
		cfg, err := g.Config()
		if err != nil {
			return err
		}
		bare = cfg.Core.IsBare
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("read config of %s: %w", r.path, err)
	}
	return bare, nil
}

// Resolve returns the full sha of the commit rev names: a sha, a branch,
// a tag (peeled to its commit) or any revision go-git understands. An
// unknown revision, or one naming no commit, wraps ErrUnknownRevision.
func (r *Repo) Resolve(rev string) (string, error) {
	var sha string
	err := r.do(func(g *git.Repository) error {
		h, err := resolve(g, rev)
		sha = h.String()
		return err
	})
	if err != nil {
		return "", fmt.Errorf("resolve %q: %w", rev, err)
	}
	return sha, nil
}

// Branches returns every branch (refs/heads/*) with the sha of its tip.
func (r *Repo) Branches() (map[string]string, error) {
	out := map[string]string{}
	err := r.do(func(g *git.Repository) error {
		clear(out)
		iter, err := g.References()
		if err != nil {
			return err
		}
		return iter.ForEach(func(ref *plumbing.Reference) error {
			if ref.Type() == plumbing.HashReference && ref.Name().IsBranch() {
				out[ref.Name().Short()] = ref.Hash().String()
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list branches of %s: %w", r.path, err)
	}
	return out, nil
}

// Published returns the sha last published for branch, read from the ref
// PublishedPrefix+branch; ok is false when the branch was never published.
func (r *Repo) Published(branch string) (sha string, ok bool, err error) {
	name, err := publishedRef(branch)
	if err != nil {
		return "", false, err
	}
	err = r.do(func(g *git.Repository) error {
		ref, err := g.Storer.Reference(name)
		if errors.Is(err, plumbing.ErrReferenceNotFound) {
			ok = false
			return nil
		}
		if err != nil {
			return err
		}
		sha, ok = ref.Hash().String(), true
		return nil
	})
	if err != nil {
		return "", false, fmt.Errorf("read published marker of %s: %w", branch, err)
	}
	return sha, ok, nil
}

// SetPublished records sha, which must be a full sha of a commit in the
// repository, as the last published tip of branch. The marker ref also
// keeps the commit from being garbage-collected.
func (r *Repo) SetPublished(branch, sha string) error {
	name, err := publishedRef(branch)
	if err != nil {
		return err
	}
	if !plumbing.IsHash(sha) {
		return fmt.Errorf("set published marker of %s to %q: not a full sha: %w", branch, sha, ErrUnknownRevision)
	}
	err = r.do(func(g *git.Repository) error {
		if _, err := g.CommitObject(plumbing.NewHash(sha)); err != nil {
			return unknown(err)
		}
		return g.Storer.SetReference(plumbing.NewHashReference(name, plumbing.NewHash(sha)))
	})
	if err != nil {
		return fmt.Errorf("set published marker of %s to %s: %w", branch, sha, err)
	}
	return nil
}

// PublishedBranches returns the branches that have a published marker,
// sorted.
func (r *Repo) PublishedBranches() ([]string, error) {
	var out []string
	err := r.do(func(g *git.Repository) error {
		out = out[:0]
		iter, err := g.Storer.IterReferences()
		if err != nil {
			return err
		}
		return iter.ForEach(func(ref *plumbing.Reference) error {
			if b, ok := strings.CutPrefix(ref.Name().String(), PublishedPrefix); ok {
				out = append(out, b)
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list published markers of %s: %w", r.path, err)
	}
	sort.Strings(out)
	return out, nil
}

func publishedRef(branch string) (plumbing.ReferenceName, error) {
	if branch == "" || plumbing.NewBranchReferenceName(branch).Validate() != nil {
		return "", fmt.Errorf("branch %q: %w", branch, ErrInvalidBranch)
	}
	return plumbing.ReferenceName(PublishedPrefix + branch), nil
}

// do runs fn on the repository under the lock. When fn fails because an
// object or a pack is missing, the pack index may predate a push or a gc by
// another process: it is reloaded and fn runs once more. fn must therefore
// reset whatever it fills in.
func (r *Repo) do(fn func(g *git.Repository) error) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.doLocked(fn)
}

// doLocked is do for a caller holding r.mu.
func (r *Repo) doLocked(fn func(g *git.Repository) error) error {
	err := fn(r.g)
	if err == nil || !stale(err) {
		return err
	}
	if ri, ok := r.g.Storer.(interface{ Reindex() }); ok {
		ri.Reindex()
	}
	return fn(r.g)
}

func stale(err error) bool {
	return errors.Is(err, plumbing.ErrObjectNotFound) ||
		errors.Is(err, ErrUnknownRevision) ||
		errors.Is(err, dotgit.ErrPackfileNotFound) ||
		errors.Is(err, fs.ErrNotExist)
}

// resolve returns the commit rev names, or an error wrapping
// ErrUnknownRevision.
func resolve(g *git.Repository, rev string) (plumbing.Hash, error) {
	if rev == "" {
		return plumbing.ZeroHash, ErrUnknownRevision
	}
	h, err := g.ResolveRevision(plumbing.Revision(rev))
	if err != nil {
		return plumbing.ZeroHash, unknown(err)
	}
	if _, err := g.CommitObject(*h); err != nil {
		return plumbing.ZeroHash, unknown(err)
	}
	return *h, nil
}

// unknown maps go-git's not-found errors to ErrUnknownRevision.
func unknown(err error) error {
	if errors.Is(err, plumbing.ErrObjectNotFound) || errors.Is(err, plumbing.ErrReferenceNotFound) {
		return fmt.Errorf("%w (%v)", ErrUnknownRevision, err)
	}
	return err
}

// WithStorage runs fn on the repository's go-git storage under the Repo's
// lock, for code that reads or writes objects and packs directly (pkg/codebus
// packs a revision's objects and stores received packs). Like every method
// it retries fn once after reloading the pack index when an object seemed
// missing, so fn must reset whatever it fills in.
func (r *Repo) WithStorage(fn func(s storage.Storer) error) error {
	return r.do(func(g *git.Repository) error { return fn(g.Storer) })
}
