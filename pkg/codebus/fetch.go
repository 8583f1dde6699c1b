package codebus

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/storage"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/balcony-dev/balcony/pkg/bus"
)

// DefaultMaxChain is the longest chain of incremental packs a Fetcher
// walks before it takes the newest full pack instead.
const DefaultMaxChain = 2 * DefaultFullEvery

// FetcherOptions configures a Fetcher; the zero value selects defaults.
type FetcherOptions struct {
	// MaxChain bounds the incremental packs one Fetch downloads
	// (DefaultMaxChain); further behind, it starts from a full pack.
	MaxChain int
}

// Fetcher brings revisions from the object store into a local repository.
// Fetches of one Fetcher may run concurrently: each pack is verified and
// written under the repository's lock, and a pack stored twice is harmless.
type Fetcher struct {
	store jetstream.ObjectStore
	repo  Repository
	opts  FetcherOptions
}

// NewFetcher returns a Fetcher from store (the Bucket object store) into
// repo.
func NewFetcher(store jetstream.ObjectStore, repo Repository, opts FetcherOptions) *Fetcher {
	if opts.MaxChain <= 0 {
		opts.MaxChain = DefaultMaxChain
	}
	return &Fetcher{store: store, repo: repo, opts: opts}
}

// FetchResult says what a Fetch did.
type FetchResult struct {
	// Present: the commit was in the repository already; nothing was
	// downloaded.
	Present bool
	// Packs are the objects downloaded and stored, oldest first.
	Packs []Info
	// Bytes is their total size.
	Bytes uint64
}

// Fetch makes revision sha present in the repository with its whole tree.
// When the commit is there already it does nothing (a commit in the
// repository came from git or from a verified pack, with everything
// reachable from it). Otherwise it walks back from pack.<sha> through the
// packs' bases to a revision the repository has, at most MaxChain packs,
// starting instead from the newest full pack when the walk finds no such
// revision or a pack is missing; then it downloads the packs oldest first
// and stores each after verifying it. Errors: ErrBadRevision, ErrNoCode
// (nothing on the bus to fetch from), ErrCodeUnverified (what the bus
// holds is not the revision's code: nothing of that pack is stored), or
// the bus's. An interrupted Fetch leaves the repository consistent (each
// pack is stored whole or not at all) and the next one resumes after the
// packs stored.
func (f *Fetcher) Fetch(ctx context.Context, sha string) (FetchResult, error) {
	var res FetchResult
	if err := checkSHA(sha); err != nil {
		return res, err
	}
	if ok, err := f.has(sha); err != nil || ok {
		res.Present = ok
		return res, err
	}
	plan, err := f.plan(ctx, sha)
	if err != nil {
		return res, err
	}
	for _, i := range plan {
		if err := f.apply(ctx, i); err != nil {
			return res, err
		}
		res.Packs = append(res.Packs, i)
		res.Bytes += i.Size
	}
	// Each pack stored is a pack file more in the repository: past its
	// limit they are merged (gitrepo.Repo.Tidy).
	if t, ok := f.repo.(tidier); ok && len(res.Packs) > 0 {
		t.Tidy(ctx)
	}
	return res, nil
}

// tidier is a Repository that keeps its pack count down (gitrepo.Repo).
type tidier interface{ Tidy(ctx context.Context) }

// plan lists the packs that bring sha, oldest first.
func (f *Fetcher) plan(ctx context.Context, sha string) ([]Info, error) {
	var chain []Info
	cur := sha
	for len(chain) < f.opts.MaxChain {
		i, err := f.info(ctx, cur)
		if errors.Is(err, jetstream.ErrObjectNotFound) {
			return f.fromFull(ctx, sha, chain, err)
		}
		if err != nil {
			return nil, err
		}
		chain = append(chain, i)
		if i.Kind == KindFull {
			break
		}
		var missing []string
		for _, b := range i.Bases {
			ok, err := f.has(b)
			if err != nil {
				return nil, err
			}
			if !ok {
				missing = append(missing, b)
			}
		}
		if len(missing) == 0 {
			break
		}
		if len(missing) > 1 {
			return f.fromFull(ctx, sha, chain, errors.New("several bases missing"))
		}
		cur = missing[0]
	}
	if last := chain[len(chain)-1]; last.Kind != KindFull && len(chain) == f.opts.MaxChain {
		if ok, err := f.haveBases(last); err != nil || !ok {
			return f.fromFull(ctx, sha, chain, fmt.Errorf("more than %d packs behind", f.opts.MaxChain))
		}
	}
	slices.Reverse(chain)
	return chain, nil
}

// fromFull is the plan when the chain from sha does not reach the
// repository: the full pack named by the newest pack of the chain, then
// the incremental packs from it to sha.
func (f *Fetcher) fromFull(ctx context.Context, sha string, chain []Info, why error) ([]Info, error) {
	if len(chain) == 0 || chain[0].Full == "" {
		return nil, fmt.Errorf("revision %s: %w (%v)", sha, ErrNoCode, why)
	}
	full, err := f.store.GetInfo(ctx, ObjectName(KindFull, chain[0].Full))
	if err != nil {
		return nil, fmt.Errorf("revision %s: %w (%v; its full pack %s: %v)", sha, ErrNoCode, why, chain[0].Full, err)
	}
	fi, err := infoOf(KindFull, chain[0].Full, full)
	if err != nil {
		return nil, err
	}
	// Then the packs walked down to the full pack's revision, oldest
	// first.
	k := slices.IndexFunc(chain, func(i Info) bool { return i.SHA == fi.SHA })
	if k < 0 {
		if !slices.Contains(chain[len(chain)-1].Bases, fi.SHA) {
			return nil, fmt.Errorf("revision %s: %w (%v; its full pack %s is not on its chain of packs)", sha, ErrNoCode, why, fi.SHA)
		}
		k = len(chain)
	}
	plan := append([]Info{fi}, chain[:k]...)
	slices.Reverse(plan[1:])
	return plan, nil
}

// info reads the metadata of pack.<sha>, or of full.<sha> when there is
// no incremental pack.
func (f *Fetcher) info(ctx context.Context, sha string) (Info, error) {
	oi, err := f.store.GetInfo(ctx, ObjectName(KindPack, sha))
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		oi, err = f.store.GetInfo(ctx, ObjectName(KindFull, sha))
		if err == nil {
			return infoOf(KindFull, sha, oi)
		}
	}
	if err != nil {
		return Info{}, fmt.Errorf("code of %s: %w", sha, err)
	}
	return infoOf(KindPack, sha, oi)
}

// apply downloads one pack, verifies it over the repository and stores it.
func (f *Fetcher) apply(ctx context.Context, i Info) error {
	name := ObjectName(i.Kind, i.SHA)
	getCtx, cancel := bus.ObjectContext(ctx, i.Size)
	defer cancel()
	data, err := f.store.GetBytes(getCtx, name)
	if errors.Is(err, jetstream.ErrDigestMismatch) {
		return fmt.Errorf("download %s: %w: %v", name, ErrCodeUnverified, err)
	}
	if err != nil {
		return fmt.Errorf("download %s: %w", name, err)
	}
	want := plumbing.NewHash(i.SHA)
	err = f.repo.WithStorage(func(s storage.Storer) error {
		parsed, err := parsePack(data, s)
		if err != nil {
			return err
		}
		if parsed.HasEncodedObject(want) != nil {
			return fmt.Errorf("%w: the pack does not hold commit %s", ErrCodeUnverified, i.SHA)
		}
		if err := Verify(overlay{EncodedObjectStorer: s, top: parsed}, want); err != nil {
			return err
		}
		// A thin pack's deltas on the repository's objects are resolved
		// already: what is stored is a pack of whole objects. The
		// filesystem storage writes a temporary pack, indexes it and
		// renames both into place: it is stored whole or not at all.
		var pack bytes.Buffer
		n, err := selfContained(parsed, &pack)
		if err != nil || n == 0 {
			return err
		}
		return packfile.UpdateObjectStorage(s, &pack)
	})
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// has tells whether the repository holds commit sha.
func (f *Fetcher) has(sha string) (bool, error) {
	var ok bool
	err := f.repo.WithStorage(func(s storage.Storer) error {
		err := s.HasEncodedObject(plumbing.NewHash(sha))
		ok = err == nil
		if errors.Is(err, plumbing.ErrObjectNotFound) {
			return nil
		}
		return err
	})
	return ok, err
}

func (f *Fetcher) haveBases(i Info) (bool, error) {
	for _, b := range i.Bases {
		if ok, err := f.has(b); err != nil || !ok {
			return false, err
		}
	}
	return true, nil
}

// Has tells whether the repository holds commit sha (and so, everything
// reachable from it: a commit there came from git or a verified pack).
func (f *Fetcher) Has(sha string) (bool, error) {
	if err := checkSHA(sha); err != nil {
		return false, err
	}
	return f.has(sha)
}
