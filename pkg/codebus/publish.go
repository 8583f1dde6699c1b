package codebus

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/storage"
	"github.com/nats-io/nats.go/jetstream"
)

// Defaults of PublisherOptions.
const (
	DefaultFullEvery      = 20
	DefaultFullAfterBytes = 16 << 20
)

// PublisherOptions configures a Publisher; the zero value of each field
// selects its default.
type PublisherOptions struct {
	// FullEvery: a full pack is written with every FullEvery-th
	// incremental pack since the last full one (DefaultFullEvery), so an
	// agent never walks a longer chain than that.
	FullEvery int
	// FullAfterBytes: a full pack is also written when the incremental
	// packs since the last full one add up to more than this
	// (DefaultFullAfterBytes): past it, one full download beats the chain.
	FullAfterBytes uint64
}

// Publisher writes each revision's code into the object store. It is safe
// for concurrent use; two publishers of one revision write the same pack.
type Publisher struct {
	store jetstream.ObjectStore
	repo  Repository
	opts  PublisherOptions
}

// NewPublisher returns a Publisher of repo's revisions into store (the
// Bucket object store).
func NewPublisher(store jetstream.ObjectStore, repo Repository, opts PublisherOptions) *Publisher {
	if opts.FullEvery <= 0 {
		opts.FullEvery = DefaultFullEvery
	}
	if opts.FullAfterBytes == 0 {
		opts.FullAfterBytes = DefaultFullAfterBytes
	}
	return &Publisher{store: store, repo: repo, opts: opts}
}

// Publish writes the code of revision sha: pack.<sha> relative to base
// (the revision published before it on its branch, "" for none), and
// full.<sha> when there is no usable base (none given, or its code is not
// on the bus) or the chain since the last full pack is long enough. A
// revision already published is not written again. It returns the Info of
// what an agent fetches first: the incremental pack when one was written,
// else the full one.
func (p *Publisher) Publish(ctx context.Context, sha, base string) (Info, error) {
	if err := checkSHA(sha); err != nil {
		return Info{}, err
	}
	if i, err := p.info(ctx, KindPack, sha); err == nil {
		return i, nil
	}
	if i, err := p.info(ctx, KindFull, sha); err == nil {
		return i, nil
	}
	var prev *Info
	if base != "" && base != sha {
		if err := checkSHA(base); err != nil {
			return Info{}, err
		}
		if i, err := p.info(ctx, KindPack, base); err == nil {
			prev = &i
		} else if i, err := p.info(ctx, KindFull, base); err == nil {
			prev = &i
		}
	}
	if prev == nil {
		return p.putFull(ctx, sha)
	}
	inc, pack, err := p.encode(sha, []string{base})
	if errors.Is(err, errEmpty) {
		// sha is an ancestor of base (a rewind): nothing is new, yet an
		// agent that lacks base needs a pack of its own.
		return p.putFull(ctx, sha)
	}
	if err != nil {
		return Info{}, err
	}
	inc.Full, inc.Depth, inc.ChainBytes = prev.Full, prev.Depth+1, prev.ChainBytes+inc.Size
	if prev.Kind == KindFull {
		inc.Depth, inc.ChainBytes = 1, inc.Size
	}
	if inc.Depth >= p.opts.FullEvery || inc.ChainBytes > p.opts.FullAfterBytes {
		// The full pack first: a pack names its full one only once that
		// exists. The chain starts again from it.
		if _, err := p.putFull(ctx, sha); err != nil {
			return Info{}, err
		}
		inc.Full, inc.Depth, inc.ChainBytes = sha, 0, 0
	}
	return inc, p.put(ctx, inc, pack)
}

func (p *Publisher) info(ctx context.Context, kind, sha string) (Info, error) {
	oi, err := p.store.GetInfo(ctx, ObjectName(kind, sha))
	if err != nil {
		return Info{}, err
	}
	return infoOf(kind, sha, oi)
}

// errEmpty: a pack would hold no object.
var errEmpty = errors.New("no new objects")

// putFull encodes and writes full.<sha>.
func (p *Publisher) putFull(ctx context.Context, sha string) (Info, error) {
	i, pack, err := p.encode(sha, nil)
	if err != nil {
		return Info{}, err
	}
	i.Full = sha
	return i, p.put(ctx, i, pack)
}

// encode packs the objects of sha not reachable from bases: a full pack
// when bases is empty.
func (p *Publisher) encode(sha string, bases []string) (Info, *bytes.Buffer, error) {
	var buf bytes.Buffer
	haves := make([]plumbing.Hash, len(bases))
	for n, b := range bases {
		haves[n] = plumbing.NewHash(b)
	}
	i := Info{Kind: KindPack, SHA: sha, Bases: bases}
	if len(bases) == 0 {
		i.Kind = KindFull
	}
	err := p.repo.WithStorage(func(s storage.Storer) error {
		buf.Reset()
		var err error
		if len(haves) == 1 {
			i.Objects, err = EncodeThinPack(s, plumbing.NewHash(sha), haves[0], &buf)
		} else {
			i.Objects, err = EncodePack(s, plumbing.NewHash(sha), haves, &buf)
		}
		return err
	})
	if err != nil {
		return Info{}, nil, fmt.Errorf("pack %s: %w", sha, err)
	}
	if i.Objects == 0 {
		return Info{}, nil, fmt.Errorf("pack %s: %w", sha, errEmpty)
	}
	i.Size = uint64(buf.Len())
	return i, &buf, nil
}

// put writes the pack described by i.
func (p *Publisher) put(ctx context.Context, i Info, pack *bytes.Buffer) error {
	name := ObjectName(i.Kind, i.SHA)
	meta := jetstream.ObjectMeta{
		Name:        name,
		Description: fmt.Sprintf("%s pack of %s, %d objects", i.Kind, i.SHA, i.Objects),
		Metadata:    i.metadata(),
	}
	if _, err := p.store.Put(ctx, meta, pack); err != nil {
		return fmt.Errorf("put %s (%d bytes) in %s: %w", name, i.Size, Bucket, err)
	}
	return nil
}
