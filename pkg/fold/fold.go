// Package fold makes a delta readable at fleet scale. A change whose
// content differs per host only by the host's own values (its certname, its
// short hostname, a serial number) is one delta.Group per host; fold puts
// such variants of one resource back together as one pattern, the change
// with those values replaced by placeholders, and lists the exact groups it
// covers. It then finds, per resource, the majority change and the outliers:
// "997 hosts change X; 3 hosts differ".
//
// Folding is presentation only. The groups, their ids and their digests are
// what approvals bind to; fold reads them and changes nothing. It is pure:
// no I/O, and the same groups always fold the same way. The rules are in
// docs/review.md.
package fold

import (
	"sort"

	"github.com/balcony-dev/balcony/pkg/delta"
	"github.com/balcony-dev/balcony/pkg/report"
)

// The placeholders a pattern shows in place of a host's own values.
const (
	// Certname stands for the host's certname (node01.example.com).
	Certname = "<certname>"
	// Hostname stands for the host's short name, the certname up to its
	// first dot (node01).
	Hostname = "<hostname>"
	// PerHost stands for a value found at the same place on every host of
	// the fold and different on each of them (a serial number, a checksum
	// of content that names the host).
	PerHost = "<per-host>"
)

// Fold is one change pattern of a resource and the exact groups it covers.
type Fold struct {
	// Pattern is the change with the hosts' own values replaced by
	// placeholders. A fold of one group shows that group's change as it
	// is, without placeholders (Line and ContainmentPath come from its
	// first host, as in the group).
	Pattern report.Resource
	// ChangedDuringNoop and NoopFalse are those of the groups (equal in
	// every group of a fold: they are part of what folds together).
	ChangedDuringNoop bool
	NoopFalse         bool
	// Hosts are every host of the fold's groups, sorted.
	Hosts []string
	// Variants are the exact groups, sorted by their first host: what
	// approvals bind to.
	Variants []Variant
	// Outlier is true when another fold of the same resource covers more
	// hosts than any other (the majority) and this one is not it.
	Outlier bool
	// Majority is true for the fold of a resource that covers more hosts
	// than any other of its folds, when the resource has several folds.
	Majority bool
}

// Variant is one exact group of a fold.
type Variant struct {
	ID    string
	Hosts []string
	// Values are the variant's own text at each PerHost placeholder of
	// the pattern, in order, but for checksums ({sha256}...) of content
	// the pattern's diff shows; empty when the pattern has none.
	Values []string
}

// Resource is one resource's folds.
type Resource struct {
	// ID is the resource's reference, File[/etc/motd].
	ID string
	// Folds lists the outliers first, fewest hosts first, then the
	// majority. A resource without a majority (two folds cover the most
	// hosts alike) lists its folds most hosts first.
	Folds []Fold
	// Hosts counts the hosts of all its folds.
	Hosts int
	// Groups counts the groups of all its folds.
	Groups int
}

// Majority returns the resource's majority fold, nil when it has none
// (one fold only, or a tie for the most hosts).
func (r *Resource) Majority() *Fold {
	if n := len(r.Folds); n > 1 && r.Folds[n-1].Majority {
		return &r.Folds[n-1]
	}
	return nil
}

// Outliers counts the outlier folds and the hosts they cover.
func (r *Resource) Outliers() (folds, hosts int) {
	for _, f := range r.Folds {
		if f.Outlier {
			folds++
			hosts += len(f.Hosts)
		}
	}
	return folds, hosts
}

// Section folds the groups of one section of a delta (its changes, its
// withdrawn changes or its drift). Resources with outliers come first, then
// the others, each in resource id order. groups are not modified.
func Section(groups []delta.Group) []Resource {
	byKey := map[key][]*delta.Group{}
	var keys []key
	for i := range groups {
		g := &groups[i]
		k := keyOf(g)
		if _, ok := byKey[k]; !ok {
			keys = append(keys, k)
		}
		byKey[k] = append(byKey[k], g)
	}
	byID := map[string]*Resource{}
	var ids []string
	for _, k := range keys {
		r, ok := byID[k.id]
		if !ok {
			r = &Resource{ID: k.id}
			byID[k.id] = r
			ids = append(ids, k.id)
		}
		for _, f := range foldKey(byKey[k]) {
			r.Folds = append(r.Folds, f)
			r.Hosts += len(f.Hosts)
			r.Groups += len(f.Variants)
		}
	}
	out := make([]Resource, 0, len(ids))
	for _, id := range ids {
		r := byID[id]
		rank(r)
		out = append(out, *r)
	}
	sort.SliceStable(out, func(i, j int) bool {
		oi, _ := out[i].Outliers()
		oj, _ := out[j].Outliers()
		if (oi > 0) != (oj > 0) {
			return oi > 0
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// key is what a fold never crosses: a resource declared in two source
// files (or define instances) has different owners; a change made during
// the noop, or asking for noop => false, is never shown as one that was not.
type key struct {
	id, file, define   string
	changed, noopFalse bool
}

func keyOf(g *delta.Group) key {
	r := &g.Resource
	return key{id: r.ID, file: r.File, define: r.DefineType, changed: g.ChangedDuringNoop, noopFalse: g.NoopFalse}
}

// rank marks the majority and the outliers of a resource and orders its
// folds: outliers fewest hosts first, the majority last; without a
// majority, most hosts first. Ties go by first host.
func rank(r *Resource) {
	fs := r.Folds
	sort.SliceStable(fs, func(i, j int) bool {
		if len(fs[i].Hosts) != len(fs[j].Hosts) {
			return len(fs[i].Hosts) > len(fs[j].Hosts)
		}
		return fs[i].Hosts[0] < fs[j].Hosts[0]
	})
	if len(fs) < 2 || len(fs[0].Hosts) == len(fs[1].Hosts) {
		return
	}
	major := fs[0]
	major.Majority = true
	rest := fs[1:]
	for i := range rest {
		rest[i].Outlier = true
	}
	sort.SliceStable(rest, func(i, j int) bool {
		if len(rest[i].Hosts) != len(rest[j].Hosts) {
			return len(rest[i].Hosts) < len(rest[j].Hosts)
		}
		return rest[i].Hosts[0] < rest[j].Hosts[0]
	})
	copy(fs, rest)
	fs[len(fs)-1] = major
}
