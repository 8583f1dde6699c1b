package reconcile

import (
	"maps"
	"regexp"
	"slices"

	"github.com/balcony-dev/balcony/pkg/delta"
	"github.com/balcony-dev/balcony/pkg/report"
)

// diffContext is the context kept around each change of a diff in a
// Finding: the reports hold whole files (--diff_args=-U 1000000).
const diffContext = 3

var (
	// A real run records a refresh as an event with no property and this
	// message (older Puppets log it instead); a noop only logs that it
	// would have triggered it. The callback is almost always 'refresh'.
	triggered      = regexp.MustCompile(`^Triggered '([^']+)' from \d+ events?$`)
	wouldTriggered = regexp.MustCompile(`^Would have triggered '([^']+)' from \d+ events?$`)
)

// made tells whether an event changed the host: not a failure, not an
// audit, not a change the run (or the resource's own noop => true) only
// reported.
func made(e *report.Event) bool {
	switch e.Status {
	case "noop", "audit", "failure":
		return false
	}
	return true
}

// shown tells whether a noop's event shows a change: pending ("noop"), or
// made by the noop itself ("success", a resource with noop => false that
// the noop could not hold back).
func shown(e *report.Event) bool {
	return e.Status != "audit" && e.Status != "failure"
}

// compareResource compares the apply's changes of one resource with the
// noop's (n is nil when the noop showed nothing for it).
func compareResource(n, a *report.Resource) (unapproved, missing []Finding) {
	var nevs []*report.Event
	var nrefresh map[string]bool
	ncarrier := ""
	if n != nil {
		nevs = changes(n, shown)
		nrefresh = noopRefreshes(n)
		ncarrier = carrier(n)
	}
	acarrier := carrier(a)
	used := make([]bool, len(nevs))
	for _, e := range changes(a, made) {
		f := Finding{Resource: a.ID, Property: e.Property, Applied: change(e, a, acarrier)}
		j := match(nevs, used, e.Property)
		if j < 0 {
			f.Why = WhyNotReviewed
			unapproved = append(unapproved, f)
			continue
		}
		used[j] = true
		ne := nevs[j]
		f.Reviewed = change(ne, n, ncarrier)
		switch {
		case ne.Previous != e.Previous:
			f.Why = WhyPrevious
		case ne.Desired != e.Desired:
			f.Why = WhyDesired
		case e.Property == acarrier && e.Property == ncarrier && a.Diff != "" && n.Diff != "" && a.Diff != n.Diff:
			// A file created shows its content only in the diff (from the
			// catalog); one edited by hand is also seen in its checksums.
			f.Why = WhyDiff
		default:
			continue
		}
		unapproved = append(unapproved, f)
	}
	arefresh := applyRefreshes(a)
	for _, cb := range slices.Sorted(maps.Keys(arefresh)) {
		if !nrefresh[cb] {
			unapproved = append(unapproved, Finding{Resource: a.ID, Refresh: cb, Why: WhyRefresh})
		}
	}
	if n == nil {
		return unapproved, nil
	}
	for j, ne := range nevs {
		if used[j] || ne.Status != "noop" || kept(a, ne.Property) {
			continue
		}
		missing = append(missing, Finding{Resource: n.ID, Property: ne.Property, Reviewed: change(ne, n, ncarrier), Why: WhyNotApplied})
	}
	if !a.Failed {
		for _, cb := range slices.Sorted(maps.Keys(nrefresh)) {
			if !arefresh[cb] {
				missing = append(missing, Finding{Resource: n.ID, Refresh: cb, Why: WhyNotRefresh})
			}
		}
	}
	return unapproved, missing
}

// missingAll lists every change the noop showed for a resource the apply
// did not touch at all.
func missingAll(n *report.Resource) []Finding {
	_, miss := compareResource(n, &report.Resource{ID: n.ID, Type: n.Type, Title: n.Title})
	return miss
}

// kept tells whether the apply explains why a noop's change of property
// did not happen: it failed there (the resource is among the failures), or
// the resource is noop => true in the code and the apply held it back too.
func kept(a *report.Resource, property string) bool {
	for i := range a.Events {
		e := &a.Events[i]
		if e.Property == property && (e.Status == "failure" || e.Status == "noop") {
			return true
		}
	}
	return false
}

// changes returns the resource's property changes that pass keep; refresh
// events (no property) are left to refreshes.
func changes(r *report.Resource, keep func(*report.Event) bool) []*report.Event {
	var out []*report.Event
	for i := range r.Events {
		e := &r.Events[i]
		if !keep(e) || (e.Property == "" && triggered.MatchString(e.Message)) {
			continue
		}
		out = append(out, e)
	}
	return out
}

// applyRefreshes returns the callbacks of the refreshes a real run made
// on the resource.
func applyRefreshes(r *report.Resource) map[string]bool {
	out := map[string]bool{}
	for i := range r.Events {
		e := &r.Events[i]
		if m := triggered.FindStringSubmatch(e.Message); m != nil && e.Property == "" && made(e) {
			out[m[1]] = true
		}
	}
	for _, l := range r.Logs {
		if m := triggered.FindStringSubmatch(l); m != nil {
			out[m[1]] = true
		}
	}
	return out
}

// noopRefreshes returns the callbacks a noop says it would have triggered
// on the resource.
func noopRefreshes(r *report.Resource) map[string]bool {
	out := map[string]bool{}
	for _, l := range r.Logs {
		if m := wouldTriggered.FindStringSubmatch(l); m != nil {
			out[m[1]] = true
		}
	}
	return out
}

// match returns the first unused event of property, or -1.
func match(evs []*report.Event, used []bool, property string) int {
	for j, e := range evs {
		if !used[j] && e.Property == property {
			return j
		}
	}
	return -1
}

// carrier is the property whose change the resource's diff shows: content,
// or ensure for a file created (its content is in the diff only). Empty
// when the resource has no diff.
func carrier(r *report.Resource) string {
	if r.Diff == "" {
		return ""
	}
	found := ""
	for i := range r.Events {
		switch r.Events[i].Property {
		case "content":
			return "content"
		case "ensure":
			found = "ensure"
		}
	}
	return found
}

// change is what an event did, with the resource's diff (trimmed) when the
// event is the one that carries it.
func change(e *report.Event, r *report.Resource, carrier string) *Change {
	c := &Change{Previous: e.Previous, Desired: e.Desired}
	if carrier != "" && e.Property == carrier {
		c.Diff = delta.TrimDiff(r.Diff, diffContext)
	}
	return c
}
