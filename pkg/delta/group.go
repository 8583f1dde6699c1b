package delta

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"sort"
	"strings"

	"github.com/balcony-dev/balcony/pkg/report"
)

// idLen is the length of a group ID in hex digits: 64 bits, so that even
// a million distinct changes collide with odds of about 1 in 30 million.
const idLen = 16

// grouper collects identical changes across hosts, the way alertmanager's
// dispatcher does: a map from the grouping key to the group's host set.
type grouper struct {
	byKey map[string]*Group
	h     hash.Hash
	buf   []byte
	// ids maps each grouping key met to its ID: the same change on a
	// thousand hosts is hashed once (the map compares whole keys, so no
	// two changes share an entry).
	ids map[string]string
}

func newGrouper() *grouper {
	return &grouper{byKey: map[string]*Group{}, h: sha256.New(), ids: map[string]string{}}
}

// add files host's change r. Hosts must be added in sorted order, so that
// a group's Hosts stay sorted and its Resource comes from the first host.
func (g *grouper) add(host string, r report.Resource) {
	id := g.key(&r)
	if grp, ok := g.byKey[id]; ok {
		grp.Hosts = append(grp.Hosts, host)
		grp.NoopFalse = grp.NoopFalse || r.NoopFalse
		return
	}
	g.byKey[id] = &Group{ID: id, Resource: r, Hosts: []string{host}, ChangedDuringNoop: r.ChangedDuringNoop, NoopFalse: r.NoopFalse}
}

// groups returns the groups sorted by resource ID, source file and hosts
// (then group ID), so a review lists a resource's variants side by side.
func (g *grouper) groups() []Group {
	if len(g.byKey) == 0 {
		return nil
	}
	out := make([]Group, 0, len(g.byKey))
	for _, grp := range g.byKey {
		out = append(out, *grp)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := &out[i], &out[j]
		if a.Resource.ID != b.Resource.ID {
			return a.Resource.ID < b.Resource.ID
		}
		if a.Resource.File != b.Resource.File {
			return a.Resource.File < b.Resource.File
		}
		if ha, hb := strings.Join(a.Hosts, ","), strings.Join(b.Hosts, ","); ha != hb {
			return ha < hb
		}
		return a.ID < b.ID
	})
	return out
}

// key hashes exactly the fields that define "the same change": those that
// sameChange compares. Every field is length-prefixed so that no two
// different changes encode alike.
func (g *grouper) key(r *report.Resource) string {
	g.buf = g.buf[:0]
	g.str(r.Type)
	g.str(r.Title)
	g.str(r.File)
	g.str(r.DefineType)
	g.num(len(r.Events))
	for _, e := range r.Events {
		g.str(e.Property)
		g.str(e.Previous)
		g.str(e.Desired)
		g.str(e.Status)
	}
	g.str(r.Diff)
	g.num(len(r.Logs))
	for _, l := range r.Logs {
		g.str(l)
	}
	if r.Failed {
		g.num(1)
	} else {
		g.num(0)
	}
	if id, ok := g.ids[string(g.buf)]; ok {
		return id
	}
	g.h.Reset()
	g.h.Write(g.buf)
	var sum [sha256.Size]byte
	id := hex.EncodeToString(g.h.Sum(sum[:0]))[:idLen]
	g.ids[string(g.buf)] = id
	return id
}

func (g *grouper) str(s string) {
	g.num(len(s))
	g.buf = append(g.buf, s...)
}

func (g *grouper) num(n int) {
	g.buf = binary.AppendUvarint(g.buf, uint64(n))
}

// Digest is a stable hash of what the Result says: every section's group
// IDs and hosts, errors, baseline notes and unanswered hosts (not PerHost,
// which the groups summarize). Equal digests mean an announcement would
// say the same thing twice.
func (r *Result) Digest() string {
	var b strings.Builder
	b.WriteString(r.Commit + "\x00" + r.Parent + "\x00")
	for _, sec := range [][]Group{r.Groups, r.Withdrawn, r.Drift} {
		b.WriteString("\x01")
		for _, g := range sec {
			b.WriteString(g.ID + "=" + strings.Join(g.Hosts, ",") + "\x00")
		}
	}
	b.WriteString("\x01")
	for _, e := range r.Errors {
		b.WriteString(e.Message + "=" + strings.Join(e.Hosts, ",") + "\x00")
	}
	b.WriteString("\x01")
	for _, n := range r.Baselines {
		b.WriteString(n.Host + "=" + n.Revision + "=" + n.Reason + "\x00")
	}
	b.WriteString("\x01" + strings.Join(r.Unanswered, ","))
	if len(r.NoopFalse) > 0 {
		// Only when present, so that earlier digests stay what they were.
		b.WriteString("\x02")
		for _, n := range r.NoopFalse {
			b.WriteString(n.Resource + "=" + strings.Join(n.Hosts, ",") + "\x00")
		}
	}
	sum := sha256.Sum256([]byte(b.String()))
	return hex.EncodeToString(sum[:])
}
