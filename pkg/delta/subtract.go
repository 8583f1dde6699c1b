package delta

import (
	"slices"
	"strings"

	"github.com/balcony-dev/balcony/pkg/report"
)

// subtract returns the commit's own changes (commit resources without an
// identical change in base, each made the commit's own step) and the
// withdrawn ones (base resources the commit no longer changes). Both come
// back sorted by ID, appended to own and gone as given (buffers a caller
// reuses from host to host). The inputs are not modified.
//
// steps remembers the diffs already stepped: a fleet shows the same
// change on thousands of hosts, and each pair of diffs is parsed and
// applied once.
func subtract(commit, base []report.Resource, steps *stepMemo, own, gone []report.Resource) ([]report.Resource, []report.Resource) {
	commit, base = sortedByID(commit), sortedByID(base)
	// Merge-join on ID: reports come sorted from report.Parse, so this costs
	// no map per host, which matters at a thousand hosts.
	i, j := 0, 0
	for i < len(commit) || j < len(base) {
		switch {
		case j == len(base) || (i < len(commit) && commit[i].ID < base[j].ID):
			own = append(own, commit[i])
			i++
		case i == len(commit) || base[j].ID < commit[i].ID:
			gone = append(gone, base[j])
			j++
		default:
			if !sameChange(&commit[i], &base[j]) {
				own = append(own, step(commit[i], base[j], steps))
			}
			i++
			j++
		}
	}
	return own, gone
}

// sortedByID returns rs sorted by ID, stably: rs itself when it is (as
// report.Parse leaves it), else a sorted copy. The order is found on
// indexes, not by moving whole resources around.
func sortedByID(rs []report.Resource) []report.Resource {
	if slices.IsSortedFunc(rs, func(a, b report.Resource) int { return strings.Compare(a.ID, b.ID) }) {
		return rs
	}
	order := make([]int, len(rs))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return strings.Compare(rs[a].ID, rs[b].ID) })
	out := make([]report.Resource, len(rs))
	for i, k := range order {
		out[i] = rs[k]
	}
	return out
}

// stepMemo remembers stepDiff's results within one Compute.
type stepMemo struct {
	diffs map[[2]string]steppedDiff
}

type steppedDiff struct {
	diff string
	ok   bool
}

func (m *stepMemo) stepDiff(base, commit string) (string, bool) {
	if m == nil {
		return stepDiff(base, commit)
	}
	key := [2]string{base, commit}
	if d, ok := m.diffs[key]; ok {
		return d.diff, d.ok
	}
	d, ok := stepDiff(base, commit)
	if m.diffs == nil {
		m.diffs = map[[2]string]steppedDiff{}
	}
	m.diffs[key] = steppedDiff{diff: d, ok: ok}
	return d, ok
}

// sameChange tells whether two runs show the same change of a resource.
// Line is left out (code above the resource moves it) and so is
// ContainmentPath (it names the node); event messages are left out as they
// only restate the values.
func sameChange(a, b *report.Resource) bool {
	if a.Type != b.Type || a.Title != b.Title || a.File != b.File || a.DefineType != b.DefineType ||
		a.Diff != b.Diff || a.Failed != b.Failed || len(a.Events) != len(b.Events) || len(a.Logs) != len(b.Logs) {
		return false
	}
	for i := range a.Events {
		x, y := &a.Events[i], &b.Events[i]
		if x.Property != y.Property || x.Previous != y.Previous || x.Desired != y.Desired || x.Status != y.Status {
			return false
		}
	}
	for i := range a.Logs {
		if a.Logs[i] != b.Logs[i] {
			return false
		}
	}
	return true
}

// step turns a commit change into the commit's own step over a baseline
// change of the same resource. Both runs start from the host's same live
// state, so when a property is pending in both, the commit's step starts
// where the baseline would leave it: the event's previous value becomes the
// baseline's desired value, and the diff becomes baseline-desired to
// commit-desired. Where the runs do not share a start (the live value
// differs), the commit's change is kept whole.
func step(c, b report.Resource, steps *stepMemo) report.Resource {
	if len(c.Events) > 0 && len(b.Events) > 0 {
		evs := make([]report.Event, len(c.Events))
		copy(evs, c.Events)
		for i := range evs {
			e := &evs[i]
			for _, be := range b.Events {
				if be.Property == e.Property && be.Status == "noop" && e.Status == "noop" &&
					be.Previous == e.Previous && be.Desired != e.Desired && be.Desired != redacted {
					e.Previous = be.Desired
				}
			}
		}
		c.Events = evs
	}
	if c.Diff != "" && b.Diff != "" {
		if d, ok := steps.stepDiff(b.Diff, c.Diff); ok && d != "" {
			c.Diff = d
		}
	}
	return c
}

// redacted is how Puppet writes a Sensitive value.
const redacted = "[redacted]"
