// Package gitrepo reads the Puppet code repository with go-git: it opens or
// mirrors a repository, lists the commits a push brings, exports a commit's
// tree into a clean directory, and keeps balcony's "published" markers as
// refs inside the repository. It never runs the git command line and never
// touches an index or a worktree, so several callers may export at once.
//
// Every method of Repo is safe for concurrent use. A Repo notices objects
// and packs written by other processes (a push into the repository it
// reads, a gc) without being reopened.
//
// A Repo keeps up to MaxOpenPacks of its pack files open once read
// (go-git's MaxOpenDescriptors): go-git otherwise opens the pack again for
// every object it reads, most of the cost of reading a whole tree. An
// agent's repository gains a pack per fetch, so keeping every pack open
// (KeepDescriptors) would hold a descriptor per revision ever fetched.
// Close releases them.
package gitrepo

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-billy/v5"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/storage"
	"github.com/go-git/go-git/v5/storage/filesystem"
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

	// What objects/pack held when last looked at (see dropGonePacks).
	packDir   string
	packsTime time.Time
	packs     map[string]bool

	upkeep     Upkeep     // see compact.go
	compacting sync.Mutex // held by the one Compact at work
}

// Open opens the bare or non-bare repository at path. It returns an error
// wrapping ErrNotRepository when path holds none.
func Open(path string) (*Repo, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open repository %s: %w", path, err)
	}
	g, err := openKeep(abs)
	if errors.Is(err, git.ErrRepositoryNotExists) {
		return nil, fmt.Errorf("open repository %s: %w", path, ErrNotRepository)
	}
	if err != nil {
		return nil, fmt.Errorf("open repository %s: %w", path, err)
	}
	r := &Repo{path: abs, g: g}
	r.packDir = packDir(g)
	return r, nil
}

// MaxOpenPacks bounds the pack files a Repo keeps open.
const MaxOpenPacks = 64

// openKeep opens the repository at path as git.PlainOpen does (bare or not,
// a .git directory or file), with a storage that keeps the pack files it
// reads open until it is closed (closeStorage).
func openKeep(path string) (*git.Repository, error) {
	plain, err := git.PlainOpen(path) // finds the git directory and the work tree; reads no pack
	if err != nil {
		return nil, err
	}
	fsys, ok := plain.Storer.(*filesystem.Storage)
	if !ok {
		return plain, nil // not go-git's filesystem storage: nothing kept open
	}
	var wt billy.Filesystem
	if w, err := plain.Worktree(); err == nil {
		wt = w.Filesystem
	}
	s := filesystem.NewStorageWithOptions(fsys.Filesystem(), cache.NewObjectLRUDefault(),
		filesystem.Options{MaxOpenDescriptors: MaxOpenPacks})
	return git.Open(s, wt)
}

// packDir is the objects/pack directory of g, empty when unknown.
func packDir(g *git.Repository) string {
	fsys, ok := g.Storer.(*filesystem.Storage)
	if !ok {
		return ""
	}
	return filepath.Join(fsys.Filesystem().Root(), "objects", "pack")
}

// closeStorage closes the pack files g's storage keeps open. The storage
// stays usable: it opens them again when it next reads them.
func closeStorage(g *git.Repository) error {
	if c, ok := g.Storer.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

// reload closes the pack files g keeps open and drops its pack index, so
// that the next read lists and indexes the packs afresh.
func reload(g *git.Repository) {
	// Closing files opened read-only cannot lose anything: an error is moot.
	_ = closeStorage(g)
	if ri, ok := g.Storer.(interface{ Reindex() }); ok {
		ri.Reindex()
	}
}

// Close closes the pack files the repository keeps open. A Repo used after
// Close opens them again as it reads them, and Close may be called again.
func (r *Repo) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := closeStorage(r.g); err != nil {
		return fmt.Errorf("close repository %s: %w", r.path, err)
	}
	return nil
}

// replaceLocked makes g the repository r reads, closing the old one's
// files, under r.mu.
func (r *Repo) replaceLocked(g *git.Repository) {
	_ = closeStorage(r.g) // read-only files; see reload
	r.g = g
	r.packDir = packDir(g)
	r.packs, r.packsTime = nil, time.Time{}
}

// dropGonePacks reloads the storage when a pack listed when last looked is
// gone from objects/pack (a gc, a repair, another process's repack), so
// that no descriptor to a removed pack stays open: the kept file would
// still read, but hold the disk space of a deleted file. It costs a stat
// per call, and a directory listing when objects/pack changed. Packs added
// need nothing: the storage finds them itself (its own writes) or after the
// reload of doLocked (others').
func (r *Repo) dropGonePacks() {
	if r.packDir == "" {
		return
	}
	st, err := os.Stat(r.packDir)
	if err != nil || st.ModTime().Equal(r.packsTime) {
		return
	}
	entries, err := os.ReadDir(r.packDir)
	if err != nil {
		return
	}
	now := make(map[string]bool, len(entries))
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".pack") {
			now[e.Name()] = true
		}
	}
	gone := false
	for name := range r.packs {
		if !now[name] {
			gone = true
			break
		}
	}
	r.packs, r.packsTime = now, st.ModTime()
	if gone {
		reload(r.g)
	}
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
// another process: it is reloaded (the kept pack files closed, the packs
// listed and indexed afresh) and fn runs once more. fn must therefore
// reset whatever it fills in.
func (r *Repo) do(fn func(g *git.Repository) error) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.doLocked(fn)
}

// doLocked is do for a caller holding r.mu.
func (r *Repo) doLocked(fn func(g *git.Repository) error) error {
	r.dropGonePacks()
	err := fn(r.g)
	if err == nil || !stale(err) {
		return err
	}
	reload(r.g)
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
