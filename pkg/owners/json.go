package owners

import "encoding/json"

// MarshalJSON encodes s with every list, its groups' and their owners'
// included, as [] when it is empty: readers of the approval JSON
// (docs/approval-json.md) never meet null. s is not modified.
func (s Status) MarshalJSON() ([]byte, error) {
	type plain Status // no MarshalJSON: no recursion
	p := plain(s)
	p.Groups = make([]GroupStatus, len(s.Groups))
	for i, g := range s.Groups {
		g.Via, g.ApprovedBy = orEmpty(g.Via), orEmpty(g.ApprovedBy)
		g.Excluded, g.Lapsed = orEmpty(g.Excluded), orEmpty(g.Lapsed)
		g.Owners.File, g.Owners.Module = g.Owners.File.listed(), g.Owners.Module.listed()
		nodes := make([]NodeOwners, len(g.Owners.Nodes))
		for j, n := range g.Owners.Nodes {
			n.Ownership, n.Hosts = n.Ownership.listed(), orEmpty(n.Hosts)
			nodes[j] = n
		}
		g.Owners.Nodes = nodes
		p.Groups[i] = g
	}
	p.Authors, p.Unidentified = orEmpty(s.Authors), orEmpty(s.Unidentified)
	p.Problems, p.HeldBack = orEmpty(s.Problems), orEmpty(s.HeldBack)
	return json.Marshal(p)
}

// listed is o with its nil lists empty.
func (o Ownership) listed() Ownership {
	o.Owners, o.Logins = orEmpty(o.Owners), orEmpty(o.Logins)
	return o
}

// orEmpty is s, or an empty list when s is nil.
func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
