package owners

import (
	"crypto/sha256"
	"encoding/hex"
	"time"

	"github.com/balcony-dev/balcony/pkg/delta"
	"github.com/balcony-dev/balcony/pkg/protocol"
)

// Sources of an approval.
const (
	SourceCLI    = "cli"
	SourceGitHub = "github"
	SourceChat   = "chat"
	// SourceWeb is the web view, as the user its authenticating proxy
	// names.
	SourceWeb = "web"
)

// Ways a group is approved, in GroupStatus.Via.
const (
	ViaAdmin  = "admin"
	ViaFile   = "file"
	ViaModule = "module"
	ViaNodes  = "nodes"
)

// Approval is one person's sign-off of some groups of one commit, bound to
// what they saw: the digest of each group at the time.
//
// Approvals and Status are stored (in approval records). The msgpack names
// of their fields, and of the types in them, are the Go field names msgpack
// wrote before they were tagged: they stay, so that stored records decode.
// A new field takes a snake_case name.
type Approval struct {
	// Commit is the SHA of the commit approved. An approval of another
	// commit never counts, even for a group with the same ID.
	Commit string `msgpack:"Commit" json:"commit"`
	// By is the approver's login (normalised by Evaluate).
	By     string    `msgpack:"By" json:"by"`
	Source string    `msgpack:"Source" json:"source"`
	At     time.Time `msgpack:"At" json:"at"`
	// Groups maps each approved group's ID to its GroupDigest as seen.
	// Approving the whole commit records every group then shown (see
	// Digests), so a group added later is not approved by it.
	Groups map[string]string `msgpack:"Groups" json:"groups"`
	// Ref names what carried the approval when it can be withdrawn by
	// removing it, such as a GitHub comment ("github-comment:<id>").
	Ref string `msgpack:"Ref" json:"ref,omitempty"`
}

// Status is the approval state of one commit. In JSON every list of it
// (nested ones too) is [] when empty, never null (see MarshalJSON).
type Status struct {
	// Approved: every group is approved (true when there are none).
	Approved bool          `msgpack:"Approved" json:"approved"`
	Groups   []GroupStatus `msgpack:"Groups" json:"groups"`
	// Authors are the logins of the author and co-authors, whose
	// approvals never count.
	Authors []string `msgpack:"Authors" json:"authors"`
	// Unidentified are author or co-author emails with no known login:
	// their approvals cannot be told apart and would count. Map them in
	// Input.Logins.
	Unidentified []string `msgpack:"Unidentified" json:"unidentified"`
	// Problems are the Model's, as text, for the review to show.
	Problems []string `msgpack:"Problems" json:"problems"`
	// HeldBack are the reasons the commit is not approved whatever its
	// groups, one sentence each, such as hosts whose noop failed. Evaluate
	// leaves it empty; the caller, which knows how the noop went, sets it
	// and clears Approved.
	HeldBack []string `msgpack:"HeldBack" json:"held_back"`
}

// GroupStatus is the approval state of one group.
type GroupStatus struct {
	ID     string      `msgpack:"ID" json:"id"`
	Digest string      `msgpack:"Digest" json:"digest"`
	Owners GroupOwners `msgpack:"Owners" json:"owners"`
	// Approved says whether the group is, and Via how: ViaAdmin, ViaFile,
	// ViaModule, ViaNodes (every way that holds, in that order).
	Approved bool     `msgpack:"Approved" json:"approved"`
	Via      []string `msgpack:"Via" json:"via"`
	// ApprovedBy are the logins whose current approval counts toward some
	// way: admins and owners of any kind, sorted.
	ApprovedBy []string `msgpack:"ApprovedBy" json:"approved_by"`
	// Excluded are authors or co-authors who approved (whatever they saw);
	// it did not count.
	Excluded []string `msgpack:"Excluded" json:"excluded"`
	// Lapsed are logins whose approval was of other content under this ID
	// and who have not approved the current content.
	Lapsed []string `msgpack:"Lapsed" json:"lapsed"`
	// Missing says in one sentence who can still approve; empty when
	// Approved.
	Missing string `msgpack:"Missing" json:"missing,omitempty"`
}

// GroupDigest is the hex SHA-256 of everything a review shows of g: its
// ID, its whole resource change (events, diff, logs, failure, source
// location) and its hosts, written by canonicalGroup in an explicit
// encoding. Equal groups have equal digests; a group whose ID is unchanged
// but whose hosts or details differ has another digest, so approvals of it
// lapse. (Group IDs alone hash the change but not the hosts, whose node
// files decide ownership.) A field added to the group's structs changes no
// digest until canonicalGroup writes it.
func GroupDigest(g delta.Group) string {
	sum := sha256.Sum256(canonicalGroup(g))
	return hex.EncodeToString(sum[:])
}

// Digests maps each group's ID to its GroupDigest: what an approval of the
// whole commit as seen records.
func Digests(groups []delta.Group) map[string]string {
	out := make(map[string]string, len(groups))
	for _, g := range groups {
		out[g.ID] = GroupDigest(g)
	}
	return out
}

// Evaluate decides whether commit's groups (those of its finished delta)
// are approved by approvals, under m (built at commit's first parent). An
// approval counts for a group when it is of this commit, names the group's
// ID with the group's current digest, and is not by an author or
// co-author; it then approves the group if its author is an admin, an
// owner of the file, an owner of the module, or, together with others,
// covers every node file of the group's hosts. Approvals' times are not
// consulted. Evaluate does not modify its arguments.
func Evaluate(m *Model, commit protocol.Commit, groups []delta.Group, approvals []Approval) Status {
	st := Status{Approved: true}
	authors := map[string]bool{}
	for _, email := range append([]string{commit.AuthorEmail}, CoAuthors(commit.Message)...) {
		if email == "" {
			continue
		}
		if l, ok := m.Login(email); ok {
			authors[l] = true
		} else {
			st.Unidentified = append(st.Unidentified, email)
		}
	}
	st.Authors = keys(authors)
	st.Unidentified = normalizeAll(st.Unidentified)
	for _, p := range m.problems {
		st.Problems = append(st.Problems, p.Error())
	}
	for _, g := range groups {
		gs := m.evaluateGroup(g, commit.SHA, authors, approvals)
		st.Approved = st.Approved && gs.Approved
		st.Groups = append(st.Groups, gs)
	}
	return st
}

func (m *Model) evaluateGroup(g delta.Group, sha string, authors map[string]bool, approvals []Approval) GroupStatus {
	gs := GroupStatus{ID: g.ID, Digest: GroupDigest(g), Owners: m.OwnersOf(g)}
	valid, stale, excluded := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, a := range approvals {
		seen, ok := a.Groups[g.ID]
		by := Normalize(a.By)
		switch {
		case !ok || a.Commit != sha || by == "":
		case authors[by]:
			excluded[by] = true
		case seen != gs.Digest:
			stale[by] = true
		default:
			valid[by] = true
		}
	}
	for by := range valid {
		delete(stale, by)
	}
	gs.Excluded, gs.Lapsed = keys(excluded), keys(stale)

	counts := map[string]bool{}
	approvedAmong := func(logins []string) bool {
		found := false
		for _, l := range logins {
			if valid[l] {
				counts[l], found = true, true
			}
		}
		return found
	}
	for by := range valid {
		if m.admins[by] {
			counts[by] = true
			gs.Via = appendOnce(gs.Via, ViaAdmin)
		}
	}
	if approvedAmong(gs.Owners.File.Logins) {
		gs.Via = append(gs.Via, ViaFile)
	}
	if approvedAmong(gs.Owners.Module.Logins) {
		gs.Via = append(gs.Via, ViaModule)
	}
	nodesDone := len(gs.Owners.Nodes) > 0
	for _, n := range gs.Owners.Nodes {
		nodesDone = approvedAmong(n.Logins) && nodesDone
	}
	if nodesDone {
		gs.Via = append(gs.Via, ViaNodes)
	}
	gs.ApprovedBy = keys(counts)
	gs.Approved = len(gs.Via) > 0
	if !gs.Approved {
		otherAdmin := false
		for a := range m.admins {
			otherAdmin = otherAdmin || !authors[a]
		}
		gs.Missing = missing(gs, valid, authors, otherAdmin)
	}
	return gs
}

func keys(set map[string]bool) []string {
	var out []string
	for k := range set {
		out = append(out, k)
	}
	return normalizeAll(out)
}

func appendOnce(s []string, v string) []string {
	for _, x := range s {
		if x == v {
			return s
		}
	}
	return append(s, v)
}
