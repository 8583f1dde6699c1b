// Package delta computes what one commit alone changes on every host: the
// commit's normalized noop minus the noop of its first parent (or of the
// nearest earlier commit whose noop succeeded), per host, with identical
// changes grouped across hosts. It also reports what the commit withdraws,
// the drift shown by the last applied revision, and the hosts that failed or
// did not answer. It is pure: no I/O, no clock, no randomness, and the same
// inputs always give the same Result.
package delta

import (
	"sort"

	"github.com/balcony-dev/balcony/pkg/report"
)

// Baseline is one earlier revision's noop on a host.
type Baseline struct {
	Revision string
	// Report is nil when the host gave no answer for the revision.
	Report *report.Report
}

// HostInput is everything known about one host for one commit.
type HostInput struct {
	Host string
	// Commit is the host's noop of the commit; nil when it did not answer.
	Commit *report.Report
	// Baselines are noops of earlier revisions: the first parent first, then
	// earlier first-parent ancestors, nearest first. The first one whose
	// report exists and did not fail is subtracted.
	Baselines []Baseline
	// LastApplied is the noop of the host's last applied revision, nil when
	// unknown. What it shows is drift; it is also the baseline of last
	// resort when no entry of Baselines succeeded.
	LastApplied *Baseline
}

// IgnoredResource is known noise removed from every section of the delta.
type IgnoredResource struct {
	// Type is the resource type, compared exactly (File, Exec).
	Type string
	// Title is a regular expression matched against the whole title. An
	// invalid expression matches the title literally; see Options.Validate.
	Title string
	// Purpose says why the resource is ignored; reviews show it.
	Purpose string
}

// Options tunes Compute. The zero value ignores nothing.
type Options struct {
	Ignored []IgnoredResource
}

// Result is the delta of one commit over all hosts. Every slice is sorted,
// so equal inputs give equal Results (and equal Digests).
//
// Results are stored (in noop records). The msgpack names of its fields,
// and of the types in it, are the Go field names msgpack wrote before they
// were tagged: they stay, so that stored records decode and services of two
// versions read each other's records. A new field takes a snake_case name.
type Result struct {
	Commit string `msgpack:"Commit" json:"commit"`
	Parent string `msgpack:"Parent" json:"parent"`
	// Hosts are all hosts considered, answered or not, sorted.
	Hosts []string `msgpack:"Hosts" json:"hosts"`
	// Groups are the changes the commit alone makes.
	Groups []Group `msgpack:"Groups" json:"groups"`
	// Withdrawn are changes pending in the baseline that the commit's noop
	// no longer shows.
	Withdrawn []Group `msgpack:"Withdrawn" json:"withdrawn,omitempty"`
	// Drift is what the noop of each host's last applied revision shows:
	// changes nobody has reviewed in this commit, pending on the host.
	Drift []Group `msgpack:"Drift" json:"drift,omitempty"`
	// Errors are the commit's failures, one per distinct message. A host
	// whose commit noop failed contributes no Groups and no Withdrawn.
	Errors []ErrorGroup `msgpack:"Errors" json:"errors,omitempty"`
	// Baselines notes the hosts not compared with the first parent.
	Baselines []BaselineNote `msgpack:"Baselines" json:"baselines,omitempty"`
	// Unanswered are the hosts with no noop of the commit, sorted.
	Unanswered []string `msgpack:"Unanswered" json:"unanswered,omitempty"`
	// PerHost was each host's own delta. It is no longer filled: each
	// host's delta is the groups that list it, and a copy per host made a
	// fleet's result ten thousand times the size of its groups. Kept so
	// that records stored with it still decode.
	PerHost map[string][]report.Resource `msgpack:"PerHost" json:"per_host,omitempty"`
	// Ignored says what Options.Ignored removed from the commit's own
	// changes and withdrawn changes, per rule that matched.
	Ignored []IgnoredNote `msgpack:"Ignored" json:"ignored,omitempty"`
	// NoopFalse are the resources of the commit's catalogs that ask for
	// noop => false, changed or not, sorted: the noop forced them to noop.
	NoopFalse []NoopFalseNote `msgpack:"noop_false" json:"noop_false,omitempty"`
}

// NoopFalseNote is one resource that asks for noop => false, and where.
type NoopFalseNote struct {
	Resource string   `msgpack:"resource" json:"resource"`
	Hosts    []string `msgpack:"hosts" json:"hosts"`
}

// Group is one change, identical on each of its hosts.
type Group struct {
	// ID is a stable short hex hash of the grouping key: the resource's
	// type, title, source file, define type and its whole normalized change
	// (events, diff, logs, failure). It is reused as KV key and approval id.
	ID string `msgpack:"ID" json:"id"`
	// Resource is the change as seen on the first of Hosts (its Line and
	// ContainmentPath come from that host).
	Resource report.Resource `msgpack:"Resource" json:"resource"`
	// Hosts are the hosts with this change, sorted.
	Hosts             []string `msgpack:"Hosts" json:"hosts"`
	ChangedDuringNoop bool     `msgpack:"ChangedDuringNoop" json:"changed_during_noop,omitempty"`
	// NoopFalse is true when the resource asks for noop => false on any
	// of Hosts (report.Resource.NoopFalse).
	NoopFalse bool `msgpack:"noop_false" json:"noop_false,omitempty"`
}

// ErrorGroup is one failure message of the commit and the hosts showing it.
type ErrorGroup struct {
	Message string   `msgpack:"Message" json:"message"`
	Hosts   []string `msgpack:"Hosts" json:"hosts"`
}

// BaselineNote says what a host was compared with when it was not the
// first parent, and why.
type BaselineNote struct {
	Host string `msgpack:"Host" json:"host"`
	// Revision is what the host's commit noop was compared with; empty when
	// nothing was, and every change of the commit's noop is shown.
	Revision string `msgpack:"Revision" json:"revision,omitempty"`
	Reason   string `msgpack:"Reason" json:"reason"`
}

// Reasons of a BaselineNote, worded to follow "compared with X, as".
const (
	ReasonParentFailed     = "the parent's noop failed there"
	ReasonParentUnanswered = "the parent's noop got no answer"
	ReasonNoParent         = "no noop of the parent was given"
	ReasonLastApplied      = "no noop of the parent or an earlier commit succeeded"
	ReasonNoBaseline       = "no earlier noop succeeded, so every change is shown"
)

// IgnoredNote is what one ignore rule removed.
type IgnoredNote struct {
	Type    string `msgpack:"Type" json:"type"`
	Title   string `msgpack:"Title" json:"title"`
	Purpose string `msgpack:"Purpose" json:"purpose"`
	// Resources are the distinct resource IDs removed, sorted.
	Resources []string `msgpack:"Resources" json:"resources"`
	// Hosts are the hosts they were removed on, sorted.
	Hosts []string `msgpack:"Hosts" json:"hosts"`
}

// Compute returns the delta of commit over parent across hosts. It never
// fails: what is missing (answers, baselines) is said in the Result. The
// input reports are not modified.
func Compute(commit, parent string, hosts []HostInput, opts Options) *Result {
	in := make([]HostInput, len(hosts))
	copy(in, hosts)
	sort.SliceStable(in, func(i, j int) bool { return in[i].Host < in[j].Host })

	res := &Result{Commit: commit, Parent: parent}
	ign := newIgnorer(opts.Ignored)
	groups, withdrawn, drift := newGrouper(), newGrouper(), newGrouper()
	errs := map[string][]string{}
	noopFalse := map[string][]string{} // resource → hosts
	steps := &stepMemo{}
	// Each host's own and withdrawn changes only feed the groupers,
	// which copy what they keep: one buffer serves every host.
	var own, gone []report.Resource

	for _, h := range in {
		res.Hosts = append(res.Hosts, h.Host)
		if h.LastApplied != nil && h.LastApplied.Report != nil && !h.LastApplied.Report.Failed {
			// Drift is not the commit's doing: what the rules remove from
			// it is not reported on every commit.
			for _, r := range ign.without(h.LastApplied.Report.Resources) {
				drift.add(h.Host, r)
			}
		}
		if h.Commit == nil {
			res.Unanswered = append(res.Unanswered, h.Host)
			continue
		}
		if h.Commit.Failed {
			msgs := h.Commit.Errors
			if len(msgs) == 0 {
				msgs = []string{"the noop failed"}
			}
			for _, m := range msgs {
				errs[m] = append(errs[m], h.Host)
			}
			continue
		}
		for _, id := range h.Commit.NoopFalse {
			noopFalse[id] = append(noopFalse[id], h.Host)
		}
		base, note := chooseBaseline(h)
		if note != nil {
			res.Baselines = append(res.Baselines, *note)
		}
		var baseRes []report.Resource
		if base != nil {
			baseRes = base.Resources
		}
		// Subtracting first, then removing the ignored resources, reports
		// only what the rules removed from this commit's own changes and
		// withdrawn ones: noise pending identically in the parent is no
		// part of the commit. A rule matches whole resources, so the order
		// changes nothing else.
		own, gone = subtract(h.Commit.Resources, baseRes, steps, own[:0], gone[:0])
		for _, r := range ign.filter(h.Host, own) {
			groups.add(h.Host, r)
		}
		for _, r := range ign.filter(h.Host, gone) {
			withdrawn.add(h.Host, r)
		}
	}

	res.Groups, res.Withdrawn, res.Drift = groups.groups(), withdrawn.groups(), drift.groups()
	for m, hs := range errs {
		res.Errors = append(res.Errors, ErrorGroup{Message: m, Hosts: hs})
	}
	sort.Slice(res.Errors, func(i, j int) bool { return res.Errors[i].Message < res.Errors[j].Message })
	res.Ignored = ign.notes()
	for id, hs := range noopFalse {
		res.NoopFalse = append(res.NoopFalse, NoopFalseNote{Resource: id, Hosts: hs})
	}
	sort.Slice(res.NoopFalse, func(i, j int) bool { return res.NoopFalse[i].Resource < res.NoopFalse[j].Resource })
	return res
}

// chooseBaseline picks the report to subtract for a host and, when it is
// not the first parent's, the note saying so.
func chooseBaseline(h HostInput) (*report.Report, *BaselineNote) {
	for i, b := range h.Baselines {
		if b.Report == nil || b.Report.Failed {
			continue
		}
		if i == 0 {
			return b.Report, nil
		}
		return b.Report, &BaselineNote{Host: h.Host, Revision: b.Revision, Reason: firstReason(h)}
	}
	if la := h.LastApplied; la != nil && la.Report != nil && !la.Report.Failed {
		return la.Report, &BaselineNote{Host: h.Host, Revision: la.Revision, Reason: ReasonLastApplied}
	}
	return nil, &BaselineNote{Host: h.Host, Reason: ReasonNoBaseline}
}

// firstReason says why the first parent was not used.
func firstReason(h HostInput) string {
	switch {
	case len(h.Baselines) == 0:
		return ReasonNoParent
	case h.Baselines[0].Report == nil:
		return ReasonParentUnanswered
	default:
		return ReasonParentFailed
	}
}
