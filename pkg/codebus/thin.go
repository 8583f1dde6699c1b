package codebus

import (
	"bytes"
	"compress/zlib"
	"crypto/sha1"
	"encoding/binary"
	"fmt"
	"hash"
	"io"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/revlist"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// EncodeThinPack writes to w a thin packfile of the objects reachable from
// want and not from base, as git sends them: each tree and blob of want's
// tree whose path holds another object in base's tree is a delta against
// that object (a REF_DELTA naming it), when the delta is less than half its
// size. A receiver resolves those deltas against its own copy of base. It
// returns how many objects the pack holds.
//
// go-git's encoder deltas only between objects inside a pack: a commit
// touching 3 files of 3 modules then carries those directories' trees
// whole (mostly 20-byte ids, which do not compress), 5 times the bytes of
// the thin pack (docs/code-over-bus.md).
func EncodeThinPack(s storer.EncodedObjectStorer, want, base plumbing.Hash, w io.Writer) (int, error) {
	hashes, err := revlist.Objects(s, []plumbing.Hash{want}, []plumbing.Hash{base})
	if err != nil {
		return 0, fmt.Errorf("list objects of %s: %w", want, err)
	}
	if len(hashes) == 0 {
		return 0, nil
	}
	fresh := make(map[plumbing.Hash]bool, len(hashes))
	for _, h := range hashes {
		fresh[h] = true
	}
	bases, err := deltaBases(s, want, base, fresh)
	if err != nil {
		return 0, err
	}
	pw := &packWriter{sum: sha1.New()}
	pw.w = io.MultiWriter(w, pw.sum)
	var head [12]byte
	copy(head[:], "PACK")
	binary.BigEndian.PutUint32(head[4:], 2)
	binary.BigEndian.PutUint32(head[8:], uint32(len(hashes)))
	if err := pw.write(head[:]); err != nil {
		return 0, err
	}
	for _, h := range hashes {
		obj, content, err := readAll(s, h)
		if err != nil {
			return 0, err
		}
		if b, ok := bases[h]; ok {
			if _, old, err := readAll(s, b); err == nil {
				if delta := packfile.DiffDelta(old, content); len(delta) < len(content)/2 {
					if err := pw.entry(plumbing.REFDeltaObject, &b, delta); err != nil {
						return 0, err
					}
					continue
				}
			}
		}
		if err := pw.entry(obj.Type(), nil, content); err != nil {
			return 0, err
		}
	}
	if err := pw.err; err != nil {
		return 0, err
	}
	if _, err := w.Write(pw.sum.Sum(nil)); err != nil {
		return 0, err
	}
	return len(hashes), nil
}

// deltaBases maps each fresh tree and blob of want's tree to the object at
// its path in base's tree, when there is one of the same kind.
func deltaBases(s storer.EncodedObjectStorer, want, base plumbing.Hash, fresh map[plumbing.Hash]bool) (map[plumbing.Hash]plumbing.Hash, error) {
	out := map[plumbing.Hash]plumbing.Hash{}
	nc, err := object.GetCommit(s, want)
	if err != nil {
		return nil, fmt.Errorf("commit %s: %w", want, err)
	}
	oc, err := object.GetCommit(s, base)
	if err != nil {
		return out, nil // no base to delta against: a plain pack
	}
	var walk func(nt, ot plumbing.Hash) error
	walk = func(nt, ot plumbing.Hash) error {
		if !fresh[nt] || nt == ot {
			return nil
		}
		out[nt] = ot
		n, err := object.GetTree(s, nt)
		if err != nil {
			return err
		}
		o, err := object.GetTree(s, ot)
		if err != nil {
			return err
		}
		old := make(map[string]object.TreeEntry, len(o.Entries))
		for _, e := range o.Entries {
			old[e.Name] = e
		}
		for _, e := range n.Entries {
			oe, ok := old[e.Name]
			if !ok || !fresh[e.Hash] || oe.Hash == e.Hash || e.Mode == filemode.Submodule || oe.Mode == filemode.Submodule {
				continue
			}
			switch nd, od := e.Mode == filemode.Dir, oe.Mode == filemode.Dir; {
			case nd && od:
				if err := walk(e.Hash, oe.Hash); err != nil {
					return err
				}
			case !nd && !od:
				out[e.Hash] = oe.Hash
			}
		}
		return nil
	}
	if err := walk(nc.TreeHash, oc.TreeHash); err != nil {
		return nil, fmt.Errorf("delta bases of %s: %w", want, err)
	}
	return out, nil
}

func readAll(s storer.EncodedObjectStorer, h plumbing.Hash) (plumbing.EncodedObject, []byte, error) {
	obj, err := s.EncodedObject(plumbing.AnyObject, h)
	if err != nil {
		return nil, nil, fmt.Errorf("object %s: %w", h, err)
	}
	r, err := obj.Reader()
	if err != nil {
		return nil, nil, fmt.Errorf("object %s: %w", h, err)
	}
	defer r.Close()
	content, err := io.ReadAll(r)
	if err != nil {
		return nil, nil, fmt.Errorf("object %s: %w", h, err)
	}
	return obj, content, nil
}

// packWriter writes packfile entries, remembering the first error.
type packWriter struct {
	w   io.Writer
	sum hash.Hash
	err error
	buf bytes.Buffer
}

func (p *packWriter) write(b []byte) error {
	if p.err == nil {
		_, p.err = p.w.Write(b)
	}
	return p.err
}

// entry writes one object: its type and size header, the base's id for a
// REF_DELTA, and the zlib-compressed data.
func (p *packWriter) entry(t plumbing.ObjectType, base *plumbing.Hash, data []byte) error {
	size := len(data)
	c := byte(t)<<4 | byte(size&0x0f)
	size >>= 4
	var head []byte
	for size != 0 {
		head = append(head, c|0x80)
		c = byte(size & 0x7f)
		size >>= 7
	}
	head = append(head, c)
	if base != nil {
		head = append(head, base[:]...)
	}
	p.buf.Reset()
	zw := zlib.NewWriter(&p.buf)
	if _, err := zw.Write(data); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	if err := p.write(head); err != nil {
		return err
	}
	return p.write(p.buf.Bytes())
}
