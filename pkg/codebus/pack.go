package codebus

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/revlist"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/storage/memory"
)

// packWindow is the delta window of the encoder, git's default: deltas
// between versions of a file make a full pack a fraction of its blobs.
const packWindow = 10

// EncodePack writes to w a packfile of the objects reachable from want and
// not from any of haves (a full pack when haves is empty), and returns how
// many objects it holds. Haves missing from s are ignored. The pack is
// self-contained (its deltas refer only to objects inside it).
func EncodePack(s storer.EncodedObjectStorer, want plumbing.Hash, haves []plumbing.Hash, w io.Writer) (int, error) {
	hashes, err := revlist.Objects(s, []plumbing.Hash{want}, haves)
	if err != nil {
		return 0, fmt.Errorf("list objects of %s: %w", want, err)
	}
	if len(hashes) == 0 {
		return 0, nil
	}
	if _, err := packfile.NewEncoder(w, s, false).Encode(hashes, packWindow); err != nil {
		return 0, fmt.Errorf("encode pack of %s: %w", want, err)
	}
	return len(hashes), nil
}

// parsePack parses a pack apart from any repository, resolving the
// deltas of a thin pack against repo (nil: none), and returns the objects
// it brings: every object's id is computed from its content while parsing,
// so an object is what its id says. A pack that does not parse
// (truncated, bad checksum, a delta on an object neither in it nor in
// repo) wraps ErrCodeUnverified.
func parsePack(data []byte, repo storer.EncodedObjectStorer) (*memory.Storage, error) {
	m := memory.NewStorage()
	var target storer.EncodedObjectStorer = m
	if repo != nil {
		target = overlay{EncodedObjectStorer: repo, top: m}
	}
	p, err := packfile.NewParserWithStorage(packfile.NewScanner(bytes.NewReader(data)), target)
	if err == nil {
		_, err = p.Parse()
	}
	if err != nil {
		return nil, fmt.Errorf("%w: pack does not parse: %v", ErrCodeUnverified, err)
	}
	return m, nil
}

// overlay reads the objects of a parsed pack first, then the repository's:
// what the repository would hold once the pack is added to it. It writes
// into the pack's objects only.
type overlay struct {
	storer.EncodedObjectStorer // the repository
	top                        *memory.Storage
}

func (o overlay) NewEncodedObject() plumbing.EncodedObject { return o.top.NewEncodedObject() }

func (o overlay) SetEncodedObject(obj plumbing.EncodedObject) (plumbing.Hash, error) {
	return o.top.SetEncodedObject(obj)
}

func (o overlay) EncodedObject(t plumbing.ObjectType, h plumbing.Hash) (plumbing.EncodedObject, error) {
	if obj, err := o.top.EncodedObject(t, h); err == nil {
		return obj, nil
	}
	return o.EncodedObjectStorer.EncodedObject(t, h)
}

func (o overlay) HasEncodedObject(h plumbing.Hash) error {
	if o.top.HasEncodedObject(h) == nil {
		return nil
	}
	return o.EncodedObjectStorer.HasEncodedObject(h)
}

// selfContained re-encodes the objects of m as a pack with no delta on an
// object outside it, what a repository's pack index accepts.
func selfContained(m *memory.Storage, w io.Writer) (int, error) {
	hashes := make([]plumbing.Hash, 0, len(m.Objects))
	for h := range m.Objects {
		hashes = append(hashes, h)
	}
	if len(hashes) == 0 {
		return 0, nil
	}
	if _, err := packfile.NewEncoder(w, m, false).Encode(hashes, 0); err != nil {
		return 0, err
	}
	return len(hashes), nil
}

// Verify checks that s holds commit sha and its whole tree: the commit,
// every tree and every blob reachable from its root tree (submodules
// excepted), each read and hashed again to match its id. A failure wraps
// ErrCodeUnverified and says which object and path.
func Verify(s storer.EncodedObjectStorer, sha plumbing.Hash) error {
	unverified := func(format string, a ...any) error {
		return fmt.Errorf("%w: revision %s: %s", ErrCodeUnverified, sha, fmt.Sprintf(format, a...))
	}
	obj, err := read(s, plumbing.CommitObject, sha)
	if err != nil {
		return unverified("commit: %v", err)
	}
	c, err := object.DecodeCommit(s, obj)
	if err != nil {
		return unverified("commit does not decode: %v", err)
	}
	var walk func(dir string, h plumbing.Hash) error
	walk = func(dir string, h plumbing.Hash) error {
		obj, err := read(s, plumbing.TreeObject, h)
		if err != nil {
			return unverified("tree %q: %v", dir, err)
		}
		t, err := object.DecodeTree(s, obj)
		if err != nil {
			return unverified("tree %q (%s) does not decode: %v", dir, h, err)
		}
		for _, e := range t.Entries {
			p := path.Join(dir, e.Name)
			switch e.Mode {
			case filemode.Submodule:
				continue
			case filemode.Dir:
				if err := walk(p, e.Hash); err != nil {
					return err
				}
			default:
				if _, err := read(s, plumbing.BlobObject, e.Hash); err != nil {
					return unverified("file %q: %v", p, err)
				}
			}
		}
		return nil
	}
	return walk("/", c.TreeHash)
}

// read reads object h of type t and hashes its content again.
func read(s storer.EncodedObjectStorer, t plumbing.ObjectType, h plumbing.Hash) (plumbing.EncodedObject, error) {
	obj, err := s.EncodedObject(t, h)
	if errors.Is(err, plumbing.ErrObjectNotFound) {
		return nil, fmt.Errorf("%s %s missing", t, h)
	}
	if err != nil {
		return nil, fmt.Errorf("%s %s: %v", t, h, err)
	}
	r, err := obj.Reader()
	if err != nil {
		return nil, fmt.Errorf("%s %s: %v", t, h, err)
	}
	defer r.Close()
	hasher := plumbing.NewHasher(t, obj.Size())
	if _, err := io.Copy(hasher, r); err != nil {
		return nil, fmt.Errorf("%s %s: %v", t, h, err)
	}
	if got := hasher.Sum(); got != h {
		return nil, fmt.Errorf("%s %s: content hashes to %s", t, h, got)
	}
	return obj, nil
}
