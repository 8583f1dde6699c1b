package nooper

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/balcony-dev/balcony/pkg/delta"
	"github.com/balcony-dev/balcony/pkg/protocol"
	"github.com/balcony-dev/balcony/pkg/review"
)

// The overview: what the nooper knows across commits and hosts, for the
// web view and tools (the commits, hosts and host endpoints,
// docs/web.md). Pure functions of the stored collections and host
// records; the service reads those (overview_service.go).

// CommitSummary is one nooped commit in the commit list.
type CommitSummary struct {
	Commit protocol.Commit `json:"commit"`
	Branch string          `json:"branch"`
	// Parent is the commit's first parent (empty for a root commit).
	Parent string `json:"parent,omitempty"`
	// State is collecting or ready.
	State string `json:"state"`
	// Progress is how far a collecting noop has come.
	Progress *review.Progress `json:"progress,omitempty"`
	Started  time.Time        `json:"started"`
	Finished time.Time        `json:"finished,omitzero"`
	// The counts of a ready noop's result.
	Hosts      int `json:"hosts"`
	Groups     int `json:"groups"`
	Withdrawn  int `json:"withdrawn"`
	Drift      int `json:"drift"`
	Unanswered int `json:"unanswered"`
	// FailedHosts counts the hosts whose noop of the commit failed.
	FailedHosts int `json:"failed_hosts"`
	// FirstError is the first error's first message, when any failed.
	FirstError string `json:"first_error,omitempty"`
}

// CommitsRequest asks for the newest Limit commits (0: DefaultCommits).
type CommitsRequest struct {
	Limit int `json:"limit"`
}

// CommitsReply lists the nooped commits, newest first: each branch's
// first-parent chain from its newest commit, then what no chain reached.
type CommitsReply struct {
	Commits []CommitSummary `json:"commits"`
	// Total counts every nooped commit, listed or not.
	Total int `json:"total"`
}

// DefaultCommits and MaxCommits bound the commit list.
const (
	DefaultCommits = 50
	MaxCommits     = 500
)

// HostSummary is one host of the fleet and what is pending on it.
type HostSummary struct {
	Host           string    `json:"host"`
	Seen           time.Time `json:"seen"`
	Silent         bool      `json:"silent"`
	LastApplied    string    `json:"last_applied,omitempty"`
	AppliedAt      time.Time `json:"applied_at,omitzero"`
	PuppetDisabled string    `json:"puppet_disabled,omitempty"`
	Busy           string    `json:"busy,omitempty"`
	// PendingCommits and PendingGroups count the commits after the host's
	// last applied revision (on its newest chain) that change it, and
	// their change groups listing it.
	PendingCommits int `json:"pending_commits"`
	PendingGroups  int `json:"pending_groups"`
	// Drift counts the drift groups of the newest ready noop listing it.
	Drift int `json:"drift"`
	// Failed is the first error of the newest ready noop on the host,
	// empty when it compiled.
	Failed string `json:"failed,omitempty"`
}

// HostsReply is every registered host, sorted by name.
type HostsReply struct {
	Hosts []HostSummary `json:"hosts"`
	// Head is the newest nooped commit, when there is one.
	Head *protocol.Commit `json:"head,omitempty"`
}

// PendingCommit is one commit after a host's last applied revision and
// the change groups it brings there.
type PendingCommit struct {
	Commit protocol.Commit `json:"commit"`
	State  string          `json:"state"`
	Groups []delta.Group   `json:"groups"`
}

// RunSummary is one noop a host answered, as the nooper keeps it.
type RunSummary struct {
	RunID         string    `json:"run_id"`
	Kind          string    `json:"kind"`
	Revision      string    `json:"revision"`
	Outcome       string    `json:"outcome"`
	Failed        bool      `json:"failed"`
	Changes       int       `json:"changes"`
	PuppetSeconds float64   `json:"puppet_seconds"`
	StartedAt     time.Time `json:"started_at"`
	FinishedAt    time.Time `json:"finished_at"`
}

// HostReply is one host in detail.
type HostReply struct {
	HostSummary
	// Registered is false for a host with no record in the hosts bucket
	// (never seen, or expired) that noops still name.
	Registered bool `json:"registered"`
	// Pending are the commits after the last applied revision that
	// change the host, newest first (at most MaxPending).
	Pending []PendingCommit `json:"pending"`
	// DriftGroups are the newest ready noop's drift on the host.
	DriftGroups []delta.Group `json:"drift_groups,omitempty"`
	// Runs are the host's noops the nooper keeps, newest first (at most
	// MaxRuns).
	Runs []RunSummary `json:"runs"`
}

// MaxPending and MaxRuns bound a host's reply.
const (
	MaxPending = 50
	MaxRuns    = 50
)

// chainOrder orders collections newest first: from each head (a commit
// no other collection has as its first parent), newest started first,
// down its first-parent chain; then any left, newest started first.
func chainOrder(cs []*Collection) []*Collection {
	bySHA := make(map[string]*Collection, len(cs))
	isParent := map[string]bool{}
	for _, c := range cs {
		bySHA[c.Commit.SHA] = c
		if p := firstParent(c); p != "" {
			isParent[p] = true
		}
	}
	newest := func(a, b *Collection) int {
		if d := b.Started.Compare(a.Started); d != 0 {
			return d
		}
		return cmp.Compare(a.Commit.SHA, b.Commit.SHA)
	}
	var heads []*Collection
	for _, c := range cs {
		if !isParent[c.Commit.SHA] {
			heads = append(heads, c)
		}
	}
	slices.SortFunc(heads, newest)
	out := make([]*Collection, 0, len(cs))
	seen := make(map[string]bool, len(cs))
	for _, h := range heads {
		for c := h; c != nil && !seen[c.Commit.SHA]; c = bySHA[firstParent(c)] {
			seen[c.Commit.SHA] = true
			out = append(out, c)
		}
	}
	rest := make([]*Collection, 0, len(cs)-len(out))
	for _, c := range cs {
		if !seen[c.Commit.SHA] {
			rest = append(rest, c)
		}
	}
	slices.SortFunc(rest, newest)
	return append(out, rest...)
}

// firstParent is c's first parent: the commit's own, else its chain's.
func firstParent(c *Collection) string {
	if len(c.Commit.Parents) > 0 {
		return c.Commit.Parents[0]
	}
	if len(c.Chain) > 0 {
		return c.Chain[0]
	}
	return ""
}

// summarize is c's line in the commit list.
func summarize(c *Collection) CommitSummary {
	s := CommitSummary{Commit: c.Commit, Branch: c.Branch, Parent: firstParent(c), State: c.State, Started: c.Started, Finished: c.Finished}
	if r := c.Result; r != nil && c.State == StateReady {
		s.Hosts, s.Groups, s.Withdrawn, s.Drift, s.Unanswered = len(r.Hosts), len(r.Groups), len(r.Withdrawn), len(r.Drift), len(r.Unanswered)
		for _, e := range r.Errors {
			s.FailedHosts += len(e.Hosts)
			if s.FirstError == "" {
				s.FirstError = firstLine(e.Message)
			}
		}
	} else {
		s.Hosts = len(c.Hosts)
	}
	return s
}

// hostState is what the ordered collections say of one host.
type hostState struct {
	pending []PendingCommit
	groups  int
	drift   []delta.Group
	failed  string
}

// stateOf walks the newest chain (order[0] down its first parents) from
// its head to host's last applied revision and collects what would change
// there; drift and failure come from the newest ready noop that has the
// host. A host that never had an apply recorded has every commit pending.
func stateOf(order []*Collection, host, lastApplied string) hostState {
	var st hostState
	if len(order) == 0 {
		return st
	}
	bySHA := make(map[string]*Collection, len(order))
	for _, c := range order {
		bySHA[c.Commit.SHA] = c
	}
	newestReady := true
	for c := order[0]; c != nil && c.Commit.SHA != lastApplied && len(st.pending) < MaxPending; c = bySHA[firstParent(c)] {
		r := c.Result
		if c.State != StateReady || r == nil {
			continue
		}
		if newestReady && slices.Contains(r.Hosts, host) {
			newestReady = false
			st.drift = groupsOn(r.Drift, host)
			for _, e := range r.Errors {
				if slices.Contains(e.Hosts, host) {
					st.failed = firstLine(e.Message)
					break
				}
			}
		}
		if gs := groupsOn(r.Groups, host); len(gs) > 0 {
			st.pending = append(st.pending, PendingCommit{Commit: c.Commit, State: c.State, Groups: gs})
			st.groups += len(gs)
		}
	}
	return st
}

// groupsOn are the groups of gs that list host (a group's hosts are
// sorted).
func groupsOn(gs []delta.Group, host string) []delta.Group {
	var out []delta.Group
	for _, g := range gs {
		if _, found := slices.BinarySearch(g.Hosts, host); found {
			out = append(out, g)
		}
	}
	return out
}

// hostSummary is h's line in the fleet, from its record and state.
func hostSummary(h protocol.HostInfo, st hostState, now time.Time, stale time.Duration) HostSummary {
	return HostSummary{
		Host: h.Host, Seen: h.Seen, Silent: now.Sub(h.Seen) > stale,
		LastApplied: h.LastApplied, AppliedAt: h.AppliedAt, PuppetDisabled: h.PuppetDisabled, Busy: h.Busy,
		PendingCommits: len(st.pending), PendingGroups: st.groups, Drift: len(st.drift), Failed: st.failed,
	}
}

// runSummary is r's line in a host's runs.
func runSummary(r *protocol.RunResult) RunSummary {
	s := RunSummary{RunID: r.RunID, Kind: r.Kind, Revision: r.Revision, Outcome: r.Outcome,
		PuppetSeconds: r.PuppetSeconds, StartedAt: r.StartedAt, FinishedAt: r.FinishedAt}
	if r.Report != nil {
		s.Failed, s.Changes = r.Report.Failed, len(r.Report.Resources)
	}
	return s
}

// firstLine is s up to its first newline.
func firstLine(s string) string {
	first, _, _ := strings.Cut(s, "\n")
	return first
}
