// Package reconcile compares what a real Puppet run did on a host with what
// was reviewed for it: the host's own noop of the same revision, which shows
// its accepted drift plus the approved changes of every commit applied. A
// change the apply made that the noop did not show (a resource, a property,
// a previous or desired value, a content diff, a refresh) is unapproved:
// the host's state moved between review and apply, or the apply did what a
// noop cannot show. A change the noop showed that the apply did not make is
// listed as missing. Failed resources and failed runs are failures. It is
// pure: no I/O, and the same inputs give the same Result.
package reconcile

import (
	"sort"

	"github.com/balcony-dev/balcony/pkg/delta"
	"github.com/balcony-dev/balcony/pkg/report"
)

// Options tunes Compare. The zero value excuses nothing.
type Options struct {
	// Ignored are resources whose differences between noop and apply are
	// known noise, such as a file holding the time of the run: give the
	// rules the nooper's delta uses, as the review never showed them.
	// Their failures still count.
	Ignored []delta.IgnoredResource
}

// Result is the reconciliation of one host's apply with its noop. Every
// slice is sorted by resource, then property.
type Result struct {
	Host string `msgpack:"host" json:"host"`
	// Unapproved are changes the apply made that the noop did not show.
	Unapproved []Finding `msgpack:"unapproved" json:"unapproved,omitempty"`
	// Missing are changes the noop showed that the apply did not make:
	// the state was fixed by hand meanwhile, a dependency failed, or the
	// noop showed what only a noop shows. They do not fail the host.
	Missing []Finding `msgpack:"missing" json:"missing,omitempty"`
	// Failed are the resources that failed in the apply, sorted.
	Failed []string `msgpack:"failed" json:"failed,omitempty"`
	// RunFailed is true when the apply did not complete or reported any
	// failure (report.Report.Failed); Errors are its messages.
	RunFailed bool     `msgpack:"run_failed" json:"run_failed,omitempty"`
	Errors    []string `msgpack:"errors" json:"errors,omitempty"`
	// Ignored are the resources whose differences Options.Ignored
	// excused, sorted.
	Ignored []string `msgpack:"ignored" json:"ignored,omitempty"`
}

// Finding is one change that differs between the noop and the apply.
type Finding struct {
	// Resource is Puppet's reference, File[/etc/motd].
	Resource string `msgpack:"resource" json:"resource"`
	// Property is the property changed (content, mode, ensure); empty for
	// a refresh.
	Property string `msgpack:"property,omitempty" json:"property,omitempty"`
	// Refresh is the callback of a refresh ("refresh"): a service
	// restarted or an exec run because a resource it subscribes to
	// changed. Empty for a property.
	Refresh string `msgpack:"refresh,omitempty" json:"refresh,omitempty"`
	// Reviewed is what the noop showed; nil when it showed nothing.
	Reviewed *Change `msgpack:"reviewed,omitempty" json:"reviewed,omitempty"`
	// Applied is what the apply did; nil when it did nothing.
	Applied *Change `msgpack:"applied,omitempty" json:"applied,omitempty"`
	// Why is one of the Why constants.
	Why string `msgpack:"why" json:"why"`
}

// Change is one property's change in one run.
type Change struct {
	Previous string `msgpack:"previous" json:"previous"`
	Desired  string `msgpack:"desired" json:"desired"`
	// Diff is the resource's content diff, with 3 lines of context, on
	// the property that carries content (content, or ensure for a file
	// created).
	Diff string `msgpack:"diff,omitempty" json:"diff,omitempty"`
}

// Reasons of a Finding, worded to follow the resource's name.
const (
	WhyNotReviewed = "changed, and the noop did not show it"
	WhyPrevious    = "changed from another value than the noop showed"
	WhyDesired     = "changed to another value than the noop showed"
	WhyDiff        = "changed content with another diff than the noop showed"
	WhyRefresh     = "refreshed, and the noop did not show it would be"
	WhyNotApplied  = "shown by the noop, not changed by the apply"
	WhyNotRefresh  = "shown by the noop to be refreshed, not refreshed by the apply"
)

// OK tells whether the host did what was reviewed: nothing unapproved and
// nothing failed. Missing changes do not count.
func (r *Result) OK() bool {
	return !r.RunFailed && len(r.Failed) == 0 && len(r.Unapproved) == 0
}

// Compare reconciles applied, the normalized report of a real run, with
// reviewed, the host's normalized noop of the same revision, both parsed
// with the same report.ParseOptions and given the same catalog additions
// (report.Report.AddNewFileContents). A nil reviewed, or one that failed
// before showing anything, approves nothing: every change of the apply is
// unapproved. A nil applied is a failed run. Neither report is modified.
//
// Changes are matched on resource ID and property, then compared on their
// previous value, desired value and content diff; event statuses and
// messages, which differ between a noop and a real run, are not compared.
// A refresh ("Triggered 'refresh' from 1 event") is approved when the noop
// logged the same callback as one it would have triggered.
//
// A change only a real run makes (an exec whose onlyif tests a file the
// same run creates) is unapproved like any other: nobody reviewed it.
// Resources known to differ between any two runs are excused by
// Options.Ignored.
//
// Values Puppet redacts (Sensitive) read "[redacted]" in both runs and
// carry no diff, so a hand edit of such a file between noop and apply is
// not seen.
func Compare(reviewed, applied *report.Report, opts Options) Result {
	var res Result
	if applied == nil {
		res.RunFailed = true
		res.Errors = []string{"no report of the apply"}
		if reviewed != nil {
			res.Host = reviewed.Host
		}
		return res
	}
	res.Host = applied.Host
	res.RunFailed = applied.Failed
	res.Errors = append([]string(nil), applied.Errors...)

	var noop []report.Resource
	if reviewed != nil {
		noop = reviewed.Resources
	}
	ign := delta.NewIgnoreMatcher(opts.Ignored)
	ignored := map[string]bool{}
	byID := make(map[string]*report.Resource, len(noop))
	for i := range noop {
		byID[noop[i].ID] = &noop[i]
	}
	seen := map[string]bool{}
	for i := range applied.Resources {
		a := &applied.Resources[i]
		seen[a.ID] = true
		if a.Failed {
			res.Failed = append(res.Failed, a.ID)
		}
		un, miss := compareResource(byID[a.ID], a)
		if ign.Ignores(a) && len(un)+len(miss) > 0 {
			ignored[a.ID] = true
			continue
		}
		res.Unapproved = append(res.Unapproved, un...)
		res.Missing = append(res.Missing, miss...)
	}
	for i := range noop {
		n := &noop[i]
		if seen[n.ID] {
			continue
		}
		miss := missingAll(n)
		if ign.Ignores(n) && len(miss) > 0 {
			ignored[n.ID] = true
			continue
		}
		res.Missing = append(res.Missing, miss...)
	}
	sortFindings(res.Unapproved)
	sortFindings(res.Missing)
	sort.Strings(res.Failed)
	for id := range ignored {
		res.Ignored = append(res.Ignored, id)
	}
	sort.Strings(res.Ignored)
	return res
}

func sortFindings(fs []Finding) {
	sort.SliceStable(fs, func(i, j int) bool {
		if fs[i].Resource != fs[j].Resource {
			return fs[i].Resource < fs[j].Resource
		}
		if fs[i].Property != fs[j].Property {
			return fs[i].Property < fs[j].Property
		}
		return fs[i].Refresh < fs[j].Refresh
	})
}
