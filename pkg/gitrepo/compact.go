package gitrepo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/format/idxfile"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/storage/filesystem"
	"github.com/rs/zerolog"
)

// A repository balcony owns (a mirror, an agent's local copy) gains a pack
// with every fetch, and go-git never repacks: past thousands of packs every
// object lookup walks thousands of indexes, and at most MaxOpenPacks of the
// pack files stay open, so reads open and close files again. Such a
// repository therefore merges its packs into one once they are more than
// its pack limit, as git's `gc --auto` does past gc.autoPackLimit (50).
// A repository opened with Open is someone else's (the committer's bare
// repository): it is never repacked by balcony.

// AutoPackLimit is the pack count past which a mirror or a local copy
// merges its packs: git's own gc.autoPackLimit.
const AutoPackLimit = 50

// compactWindow is the delta window of a merged pack: git's default.
const compactWindow = 10

// Upkeep is how a repository balcony owns keeps itself: when to merge its
// packs, and where to say it did.
type Upkeep struct {
	// PackLimit is the pack count past which a write (a fetch, or a pack
	// stored through WithStorage followed by Tidy) merges the packs; 0
	// never merges them.
	PackLimit int
	// Log gets a line for each merge, and a warning when one fails (the
	// repository is then as it was, and the next write tries again).
	Log zerolog.Logger
}

// SetUpkeep sets how r keeps itself. Mirror and Local start with
// AutoPackLimit and no log; Open, with no upkeep.
func (r *Repo) SetUpkeep(u Upkeep) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.upkeep = u
}

// SetLog sets where r says what its upkeep did, keeping its pack limit.
func (r *Repo) SetLog(log zerolog.Logger) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.upkeep.Log = log
}

// Compaction says what a merge of packs did.
type Compaction struct {
	Packs   int    // packs merged (0: nothing was done)
	Objects int    // objects in the merged pack
	Bytes   int64  // its size
	Pack    string // its base name in objects/pack (pack-<sum>)
}

// Tidy merges r's packs when they are more than its pack limit, and logs
// what it did. Fetch calls it; a caller that stores packs itself
// (pkg/codebus) calls it after. A merge already running is not waited for.
func (r *Repo) Tidy(ctx context.Context) {
	r.mu.Lock()
	u := r.upkeep
	r.mu.Unlock()
	if u.PackLimit <= 0 {
		return
	}
	began := time.Now()
	c, err := r.Compact(ctx, u.PackLimit)
	switch {
	case err != nil:
		u.Log.Warn().Err(err).Str("repository", r.path).Msg("could not merge the repository's packs; the next fetch tries again")
	case c.Packs > 0:
		u.Log.Info().Str("repository", r.path).Int("packs", c.Packs).Int("objects", c.Objects).
			Int64("bytes", c.Bytes).Float64("merge_seconds", time.Since(began).Seconds()).
			Msg("merged the repository's packs into one")
	}
}

// Compact merges the packs of r into one when it holds more than limit of
// them: every object of every pack is kept, reachable or not (an agent's
// local copy holds verified revisions no ref names). It reads and writes
// through a storage of its own, not under r's lock, so reads go on while
// it works: the new pack is written, indexed and synced before any old one
// is removed, and a reader whose pack went away reloads (see do). A
// process killed at any point leaves every object readable: at worst a
// temporary file, or the old packs beside the new (which repair and the
// next Compact take care of). Packs with a .keep or .promisor file are
// left as they are, as git leaves them.
func (r *Repo) Compact(ctx context.Context, limit int) (Compaction, error) {
	if !r.compacting.TryLock() {
		return Compaction{}, nil
	}
	defer r.compacting.Unlock()
	r.mu.Lock()
	dir := r.packDir
	r.mu.Unlock()
	if dir == "" {
		return Compaction{}, nil
	}
	old, err := mergeablePacks(dir)
	if err != nil || len(old) <= limit {
		return Compaction{}, err
	}
	c, err := mergePacks(ctx, dir, old)
	if err != nil {
		return Compaction{}, fmt.Errorf("merge %d packs of %s: %w", len(old), r.path, err)
	}
	for _, name := range old {
		if name == c.Pack {
			continue
		}
		if err := removePack(dir, name); err != nil {
			return c, fmt.Errorf("merged %d packs of %s into %s, removing %s: %w", len(old), r.path, c.Pack, name, err)
		}
	}
	// Let go of the descriptors of the packs removed now, not at the next
	// read.
	r.mu.Lock()
	reload(r.g)
	r.packs, r.packsTime = nil, time.Time{}
	r.mu.Unlock()
	return c, nil
}

// mergeablePacks lists the packs of the objects/pack directory dir that
// have their index and no .keep or .promisor file, by base name
// (pack-<sum>), sorted.
func mergeablePacks(dir string) ([]string, error) {
	list, names, err := dirNames(dir)
	if err != nil {
		return nil, err
	}
	var packs []string
	for _, name := range list {
		base, ok := strings.CutSuffix(name, ".pack")
		if !ok || !strings.HasPrefix(base, "pack-") || !names[base+".idx"] || names[base+".keep"] || names[base+".promisor"] {
			continue
		}
		packs = append(packs, base)
	}
	sort.Strings(packs)
	return packs, nil
}

// mergePacks writes one pack of every object of the packs named, into
// dir, and syncs it.
func mergePacks(ctx context.Context, dir string, packs []string) (Compaction, error) {
	seen := map[plumbing.Hash]bool{}
	var hashes []plumbing.Hash
	for _, name := range packs {
		if err := ctx.Err(); err != nil {
			return Compaction{}, err
		}
		idx, err := readIndex(filepath.Join(dir, name+".idx"))
		if err != nil {
			return Compaction{}, err
		}
		entries, err := idx.Entries()
		if err != nil {
			return Compaction{}, fmt.Errorf("%s.idx: %w", name, err)
		}
		for {
			e, err := entries.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return Compaction{}, fmt.Errorf("%s.idx: %w", name, err)
			}
			if !seen[e.Hash] {
				seen[e.Hash] = true
				hashes = append(hashes, e.Hash)
			}
		}
		_ = entries.Close() // an in-memory iterator
	}
	// A storage of its own: r's is not safe for concurrent use, and r
	// reads on meanwhile.
	gitDir := filepath.Dir(filepath.Dir(dir))
	s := filesystem.NewStorageWithOptions(osfs.New(gitDir), cache.NewObjectLRU(16*cache.MiByte),
		filesystem.Options{MaxOpenDescriptors: MaxOpenPacks})
	defer s.Close()
	w, err := s.PackfileWriter()
	if err != nil {
		return Compaction{}, err
	}
	sum, err := packfile.NewEncoder(w, s, false).Encode(hashes, compactWindow)
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return Compaction{}, err
	}
	c := Compaction{Packs: len(packs), Objects: len(hashes), Pack: "pack-" + sum.String()}
	// The old packs go only once the new one is whole on disk and holds
	// every object they held.
	idx, err := readIndex(filepath.Join(dir, c.Pack+".idx"))
	if err != nil {
		return c, fmt.Errorf("the merged pack: %w", err)
	}
	n, err := idx.Count()
	if err != nil {
		return c, fmt.Errorf("the merged pack: %w", err)
	}
	if int(n) != len(hashes) {
		return c, fmt.Errorf("the merged pack indexes %d objects of %d", n, len(hashes))
	}
	for _, ext := range []string{".idx", ".pack"} {
		size, err := syncFile(filepath.Join(dir, c.Pack+ext))
		if err != nil {
			return c, err
		}
		if ext == ".pack" {
			c.Bytes = size
		}
	}
	return c, syncDir(dir)
}

func readIndex(path string) (*idxfile.MemoryIndex, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	idx := idxfile.NewMemoryIndex()
	if err := idxfile.NewDecoder(f).Decode(idx); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Base(path), err)
	}
	return idx, nil
}

// removePack removes the pack base (pack-<sum>) from dir: the pack first,
// so that no reader ever finds a pack without its index (an index without
// its pack, left by a crash here, is what cleanPacks removes), then what
// git may keep beside it.
func removePack(dir, base string) error {
	for _, ext := range []string{".pack", ".idx", ".rev", ".bitmap", ".mtimes"} {
		if err := os.Remove(filepath.Join(dir, base+ext)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// syncFile flushes the file at path to disk and returns its size.
func syncFile(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	if err := f.Sync(); err != nil {
		return 0, fmt.Errorf("sync %s: %w", path, err)
	}
	return st.Size(), nil
}

// syncDir flushes dir's entries (the renames into it) to disk.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
