package gitrepo

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
)

// staleTmpAge is how old a leftover temporary export directory must be
// before a CheckoutCache removes it.
const staleTmpAge = time.Hour

// evictedInfix marks a checkout being removed: it is renamed first, so that
// a crash during the removal never leaves a partial tree under a sha's name,
// where Checkout would take it for a complete checkout.
const evictedInfix = tmpInfix + "evicted-"

// removeAll is os.RemoveAll; tests interrupt it.
var removeAll = os.RemoveAll

// CheckoutCache keeps exported checkouts under root, one directory per
// commit named by its full sha, and removes the least recently used ones
// beyond keep. Use is recorded as the directory's modification time, so the
// order survives restarts.
type CheckoutCache struct {
	repo *Repo
	root string
	keep int

	mu   sync.Mutex // serializes Checkout
	last time.Time  // last mtime set, to keep touches strictly ordered
}

// NewCheckoutCache returns a cache of checkouts of repo under root (created
// on first use). keep < 1 is taken as 1.
func NewCheckoutCache(repo *Repo, root string, keep int) *CheckoutCache {
	return &CheckoutCache{repo: repo, root: root, keep: max(keep, 1)}
}

// Checkout returns the directory holding the tree of the commit rev names,
// root/<full sha>, exporting it when missing and marking it most recently
// used; then it removes the checkouts beyond the keep most recently used
// (never the one returned), each renamed first so that a crash leaves no
// partial tree under a sha's name, what such a crash left, and temporary
// directories older than an hour.
//
// Calls are serialized. A directory returned earlier may be removed by a
// later call once keep other checkouts were used since: a caller that holds
// several checkouts at once needs keep at least that large. An unknown rev
// wraps ErrUnknownRevision.
func (c *CheckoutCache) Checkout(ctx context.Context, rev string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	sha, err := c.repo.Resolve(rev)
	if err != nil {
		return "", fmt.Errorf("checkout: %w", err)
	}
	dir := filepath.Join(c.root, sha)
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		if err := c.repo.Export(ctx, sha, dir); err != nil && !errors.Is(err, fs.ErrExist) {
			return "", fmt.Errorf("checkout: %w", err)
		}
	}
	if err := c.touch(dir); err != nil {
		return "", fmt.Errorf("checkout %s: %w", sha, err)
	}
	if err := c.evict(sha); err != nil {
		return "", fmt.Errorf("checkout %s: %w", sha, err)
	}
	return dir, nil
}

// touch sets dir's mtime to now, or just after the last time set when the
// clock has not moved on, so that use order is strict.
func (c *CheckoutCache) touch(dir string) error {
	now := time.Now()
	if !now.After(c.last) {
		now = c.last.Add(time.Microsecond)
	}
	c.last = now
	return os.Chtimes(dir, now, now)
}

// evict removes checkouts beyond keep, least recently used first, and stale
// temporary directories.
func (c *CheckoutCache) evict(current string) error {
	entries, err := os.ReadDir(c.root)
	if err != nil {
		return fmt.Errorf("evict: %w", err)
	}
	type checkout struct {
		name string
		used time.Time
	}
	var checkouts []checkout
	var errs []error
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		name := e.Name()
		switch {
		case strings.Contains(name, evictedInfix):
			errs = append(errs, removeAll(filepath.Join(c.root, name)))
		case strings.Contains(name, tmpInfix):
			if time.Since(info.ModTime()) > staleTmpAge {
				errs = append(errs, removeAll(filepath.Join(c.root, name)))
			}
		case e.IsDir() && plumbing.IsHash(name) && name != current:
			checkouts = append(checkouts, checkout{name, info.ModTime()})
		}
	}
	sort.Slice(checkouts, func(i, j int) bool {
		if !checkouts[i].used.Equal(checkouts[j].used) {
			return checkouts[i].used.After(checkouts[j].used)
		}
		return checkouts[i].name < checkouts[j].name
	})
	for i, co := range checkouts {
		if i < c.keep-1 { // current counts as one kept
			continue
		}
		trash := filepath.Join(c.root, co.name+evictedInfix+strconv.FormatInt(time.Now().UnixNano(), 36))
		if err := os.Rename(filepath.Join(c.root, co.name), trash); err != nil {
			errs = append(errs, err)
			continue
		}
		errs = append(errs, removeAll(trash))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("evict: %w", err)
	}
	return nil
}
