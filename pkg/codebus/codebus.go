// Package codebus carries the Puppet code of each published revision
// through a JetStream object store, so a node that reaches the bus but not
// the git server still gets every revision.
//
// The committer's Publisher writes, for a new revision sha, a thin git
// packfile of the objects reachable from sha and not from its base (the
// revision published before it), changed files and trees as deltas on the
// base's: the object pack.<sha>. Now and then (every
// PublisherOptions.FullEvery packs, or when the packs since the last full
// one grow past FullAfterBytes), and whenever there is no base, it also
// writes full.<sha>: every object reachable from sha, so an agent far
// behind catches up in one download. docs/code-over-bus.md gives the
// measurements behind this format.
//
// An agent's Fetcher brings a revision into its local repository: nothing
// when the commit is there, else the chain of packs from a revision it has
// (or the newest full pack), each parsed apart from the repository,
// verified (the commit, and every tree and blob of its tree, present and
// hashing to its id) and only then written into the repository as a pack.
// A revision whose code does not verify is refused with ErrCodeUnverified
// and leaves nothing in the repository.
//
// The object store checks its own SHA-256 digest of every object on read
// and cuts objects into chunks (128 KiB by default, far below a server's
// max_payload), so no message is ever too large.
package codebus

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/storage"
	"github.com/nats-io/nats.go/jetstream"
)

// Bucket is the object store of the code, declared in streams.yaml. Only
// the committer writes it; agents read it.
const Bucket = "code"

// FormatVersion is the version of the objects' layout and metadata. A
// Fetcher refuses an object of another version.
const FormatVersion = 1

// Errors a caller may branch on. Returned errors wrap them with context.
var (
	// ErrCodeUnverified: what the bus holds for a revision is not its code
	// (a commit, tree or blob missing, or an object whose content does not
	// hash to its id). Nothing of it was stored.
	ErrCodeUnverified = errors.New("code does not verify")
	// ErrNoCode: the bus holds no code for the revision (never published,
	// or expired), nor a full pack to catch up from. The caller falls
	// back to git if it can.
	ErrNoCode = errors.New("no code on the bus")
	// ErrBadRevision: a revision is not a full hexadecimal sha.
	ErrBadRevision = errors.New("not a full sha")
)

// Repository is the local git repository a Publisher reads and a Fetcher
// writes. *gitrepo.Repo implements it; fn runs under the repository's lock.
type Repository interface {
	WithStorage(fn func(s storage.Storer) error) error
}

// Kinds of object, and the prefixes of their names.
const (
	// KindPack: the objects new since the bases.
	KindPack = "pack"
	// KindFull: every object reachable from the revision.
	KindFull = "full"
)

// ObjectName is the object store name of the pack of kind for sha.
func ObjectName(kind, sha string) string { return kind + "." + sha }

// Info describes one stored pack, as its object metadata records it.
type Info struct {
	Kind string // KindPack or KindFull
	SHA  string // the revision the pack brings
	// Bases are the revisions the pack is relative to: an agent that has
	// them has every object of SHA once it adds the pack. Empty for a
	// full pack.
	Bases []string
	// Objects is the number of objects in the pack.
	Objects int
	// Size is the pack's size in bytes.
	Size uint64
	// Full is the newest revision at or before SHA whose full pack was
	// written; SHA itself for a full pack.
	Full string
	// Depth is the number of incremental packs since Full (0 for the
	// pack written with a full one), ChainBytes their total size.
	Depth      int
	ChainBytes uint64
}

// Metadata keys on each object.
const (
	metaFormat     = "balcony-format"
	metaCommit     = "balcony-commit"
	metaBases      = "balcony-bases"
	metaObjects    = "balcony-objects"
	metaFull       = "balcony-full"
	metaDepth      = "balcony-depth"
	metaChainBytes = "balcony-chain-bytes"
)

func (i Info) metadata() map[string]string {
	return map[string]string{
		metaFormat:     strconv.Itoa(FormatVersion),
		metaCommit:     i.SHA,
		metaBases:      strings.Join(i.Bases, ","),
		metaObjects:    strconv.Itoa(i.Objects),
		metaFull:       i.Full,
		metaDepth:      strconv.Itoa(i.Depth),
		metaChainBytes: strconv.FormatUint(i.ChainBytes, 10),
	}
}

// infoOf reads the metadata of the object named kind.sha. Nothing from
// the bus is believed unchecked: a malformed record is an error saying
// why (the packs' content is verified apart, on fetch).
func infoOf(kind, sha string, oi *jetstream.ObjectInfo) (Info, error) {
	m := oi.Metadata
	bad := func(what string) (Info, error) {
		return Info{}, fmt.Errorf("%s: metadata %s: %w", ObjectName(kind, sha), what, ErrCodeUnverified)
	}
	if m[metaFormat] != strconv.Itoa(FormatVersion) {
		return bad(fmt.Sprintf("format %q, want %d", m[metaFormat], FormatVersion))
	}
	if m[metaCommit] != sha {
		return bad(fmt.Sprintf("commit %q, not %s", m[metaCommit], sha))
	}
	i := Info{Kind: kind, SHA: sha, Size: oi.Size, Full: m[metaFull]}
	if b := m[metaBases]; b != "" {
		i.Bases = strings.Split(b, ",")
	}
	for _, b := range i.Bases {
		if !plumbing.IsHash(b) {
			return bad(fmt.Sprintf("base %q", b))
		}
	}
	if kind == KindFull && len(i.Bases) > 0 {
		return bad("a full pack with bases")
	}
	if i.Full != "" && !plumbing.IsHash(i.Full) {
		return bad(fmt.Sprintf("full %q", i.Full))
	}
	var err error
	if i.Objects, err = strconv.Atoi(m[metaObjects]); err != nil || i.Objects < 1 {
		return bad(fmt.Sprintf("objects %q", m[metaObjects]))
	}
	if i.Depth, err = strconv.Atoi(m[metaDepth]); err != nil || i.Depth < 0 {
		return bad(fmt.Sprintf("depth %q", m[metaDepth]))
	}
	if i.ChainBytes, err = strconv.ParseUint(m[metaChainBytes], 10, 64); err != nil {
		return bad(fmt.Sprintf("chain bytes %q", m[metaChainBytes]))
	}
	return i, nil
}

func checkSHA(sha string) error {
	if !plumbing.IsHash(sha) || strings.ToLower(sha) != sha {
		return fmt.Errorf("revision %q: %w", sha, ErrBadRevision)
	}
	return nil
}
