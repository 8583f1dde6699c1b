package reconcile_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/balcony-dev/balcony/pkg/delta"
	"github.com/balcony-dev/balcony/pkg/reconcile"
	"github.com/balcony-dev/balcony/pkg/report"
)

// file returns a File resource with events; a diff may follow.
func file(path string, evs ...report.Event) report.Resource {
	return report.Resource{ID: "File[" + path + "]", Type: "File", Title: path, Events: evs}
}

func withDiff(r report.Resource, d string) report.Resource { r.Diff = d; return r }
func withLogs(r report.Resource, l ...string) report.Resource {
	r.Logs = l
	return r
}
func failed(r report.Resource) report.Resource { r.Failed = true; return r }

func noopEv(prop, prev, want string) report.Event {
	return report.Event{Property: prop, Previous: prev, Desired: want, Status: "noop"}
}

func applyEv(prop, prev, want string) report.Event {
	return report.Event{Property: prop, Previous: prev, Desired: want, Status: "success", Message: prop + " changed"}
}

func service(evs ...report.Event) report.Resource {
	return report.Resource{ID: "Service[app]", Type: "Service", Title: "app", Events: evs}
}

var refreshed = report.Event{Status: "success", Message: "Triggered 'refresh' from 1 event"}

const (
	diffAB = "--- /etc/motd\n+++ /etc/motd\n@@ -1 +1 @@\n-a\n+b\n"
	diffCB = "--- /etc/motd\n+++ /etc/motd\n@@ -1 +1 @@\n-c\n+b\n"
	newX   = "--- /dev/null\n+++ /etc/new\n@@ -0,0 +1 @@\n+x\n"
	newY   = "--- /dev/null\n+++ /etc/new\n@@ -0,0 +1 @@\n+y\n"
)

// brief is a finding reduced to what the table checks.
type brief struct{ Resource, What, Why string }

func briefs(fs []reconcile.Finding) []brief {
	var out []brief
	for _, f := range fs {
		out = append(out, brief{f.Resource, f.Property + f.Refresh, f.Why})
	}
	return out
}

func TestCompareRules(t *testing.T) {
	cases := []struct {
		name            string
		noop, apply     []report.Resource
		opts            reconcile.Options
		unapproved      []brief
		missing         []brief
		failed, ignored []string
	}{
		{
			name:  "the same change: statuses and messages differ, nothing else",
			noop:  []report.Resource{withDiff(file("/etc/motd", noopEv("content", "{md5}a", "{md5}b")), diffAB)},
			apply: []report.Resource{withDiff(file("/etc/motd", applyEv("content", "{md5}a", "{md5}b")), diffAB)},
		},
		{
			name:       "a resource the noop did not change",
			apply:      []report.Resource{file("/etc/motd", applyEv("mode", "0644", "0600"))},
			unapproved: []brief{{"File[/etc/motd]", "mode", reconcile.WhyNotReviewed}},
		},
		{
			name:       "a property the noop did not change",
			noop:       []report.Resource{file("/etc/motd", noopEv("mode", "0644", "0600"))},
			apply:      []report.Resource{file("/etc/motd", applyEv("mode", "0644", "0600"), applyEv("owner", "root", "app"))},
			unapproved: []brief{{"File[/etc/motd]", "owner", reconcile.WhyNotReviewed}},
		},
		{
			name:       "edited by hand after the noop: another previous value",
			noop:       []report.Resource{withDiff(file("/etc/motd", noopEv("content", "{md5}a", "{md5}b")), diffAB)},
			apply:      []report.Resource{withDiff(file("/etc/motd", applyEv("content", "{md5}c", "{md5}b")), diffCB)},
			unapproved: []brief{{"File[/etc/motd]", "content", reconcile.WhyPrevious}},
		},
		{
			name:       "another desired value",
			noop:       []report.Resource{file("/etc/motd", noopEv("mode", "0644", "0600"))},
			apply:      []report.Resource{file("/etc/motd", applyEv("mode", "0644", "0640"))},
			unapproved: []brief{{"File[/etc/motd]", "mode", reconcile.WhyDesired}},
		},
		{
			name:       "a file created with other content: only the diff says",
			noop:       []report.Resource{withDiff(file("/etc/new", noopEv("ensure", "absent", "file")), newX)},
			apply:      []report.Resource{withDiff(file("/etc/new", applyEv("ensure", "absent", "file")), newY)},
			unapproved: []brief{{"File[/etc/new]", "ensure", reconcile.WhyDiff}},
		},
		{
			name:  "a diff on one side only is not compared (the checksums are)",
			noop:  []report.Resource{file("/etc/new", noopEv("ensure", "absent", "file"))},
			apply: []report.Resource{withDiff(file("/etc/new", applyEv("ensure", "absent", "file")), newY)},
		},
		{
			name:  "Sensitive values are redacted on both sides: nothing to compare",
			noop:  []report.Resource{file("/etc/secret", noopEv("content", "[redacted]", "[redacted]"))},
			apply: []report.Resource{file("/etc/secret", applyEv("content", "[redacted]", "[redacted]"))},
		},
		{
			name:  "a refresh the noop said it would trigger, whatever the count",
			noop:  []report.Resource{withLogs(service(), "Would have triggered 'refresh' from 2 events")},
			apply: []report.Resource{service(refreshed)},
		},
		{
			name:  "a refresh logged rather than recorded as an event",
			noop:  []report.Resource{withLogs(service(), "Would have triggered 'refresh' from 1 event")},
			apply: []report.Resource{withLogs(service(), "Triggered 'refresh' from 1 event")},
		},
		{
			name:       "a refresh the noop did not show",
			apply:      []report.Resource{service(refreshed)},
			unapproved: []brief{{"Service[app]", "refresh", reconcile.WhyRefresh}},
		},
		{
			name:    "a refresh the noop showed, not triggered",
			noop:    []report.Resource{withLogs(service(), "Would have triggered 'refresh' from 1 event")},
			missing: []brief{{"Service[app]", "refresh", reconcile.WhyNotRefresh}},
		},
		{
			name:    "a change that did not happen: missing",
			noop:    []report.Resource{file("/etc/motd", noopEv("mode", "0644", "0600"), noopEv("owner", "root", "app"))},
			apply:   []report.Resource{file("/etc/motd", applyEv("mode", "0644", "0600"))},
			missing: []brief{{"File[/etc/motd]", "owner", reconcile.WhyNotApplied}},
		},
		{
			name:  "noop => true in the code: held back in both runs",
			noop:  []report.Resource{file("/etc/motd", noopEv("mode", "0644", "0600"))},
			apply: []report.Resource{file("/etc/motd", noopEv("mode", "0644", "0600"))},
		},
		{
			name:   "a failure is failed, neither missing nor unapproved",
			noop:   []report.Resource{file("/etc/motd", noopEv("mode", "0644", "0600"))},
			apply:  []report.Resource{failed(file("/etc/motd", report.Event{Property: "mode", Previous: "0644", Desired: "0600", Status: "failure"}))},
			failed: []string{"File[/etc/motd]"},
		},
		{
			name:    "a resource skipped for a failed dependency: missing",
			noop:    []report.Resource{file("/etc/after", noopEv("ensure", "absent", "file"))},
			apply:   []report.Resource{withLogs(file("/etc/after"), "Skipping because of failed dependencies")},
			missing: []brief{{"File[/etc/after]", "ensure", reconcile.WhyNotApplied}},
		},
		{
			name: "changed during the noop (noop => false, no guard): not expected again",
			noop: []report.Resource{file("/etc/ready", report.Event{Property: "content", Previous: "{md5}a", Desired: "{md5}b", Status: "success"})},
		},
		{
			name:  "audit events change nothing",
			apply: []report.Resource{file("/etc/motd", report.Event{Property: "content", Previous: "{md5}a", Desired: "{md5}a", Status: "audit"})},
		},
		{
			name:  "two resources matched by ID, not by order",
			noop:  []report.Resource{file("/etc/a", noopEv("mode", "0644", "0600")), file("/etc/b", noopEv("mode", "0644", "0600"))},
			apply: []report.Resource{file("/etc/b", applyEv("mode", "0644", "0600")), file("/etc/a", applyEv("mode", "0644", "0600"))},
		},
		{
			name:    "ignored resources: excused both ways, still failed",
			noop:    []report.Resource{file("/var/stamp", noopEv("content", "{md5}a", "{md5}t1")), file("/var/gone", noopEv("mode", "0644", "0600"))},
			apply:   []report.Resource{failed(file("/var/stamp", applyEv("content", "{md5}a", "{md5}t2")))},
			opts:    reconcile.Options{Ignored: []delta.IgnoredResource{{Type: "File", Title: "/var/.*"}}},
			ignored: []string{"File[/var/gone]", "File[/var/stamp]"},
			failed:  []string{"File[/var/stamp]"},
		},
		{
			name:       "an ignore rule of another type excuses nothing",
			apply:      []report.Resource{file("/var/stamp", applyEv("mode", "0644", "0600"))},
			opts:       reconcile.Options{Ignored: []delta.IgnoredResource{{Type: "Exec", Title: "/var/stamp"}}},
			unapproved: []brief{{"File[/var/stamp]", "mode", reconcile.WhyNotReviewed}},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			reviewed := &report.Report{Host: "h", Noop: true, Resources: c.noop}
			applied := &report.Report{Host: "h", Resources: c.apply}
			res := reconcile.Compare(reviewed, applied, c.opts)
			if diff := cmp.Diff(c.unapproved, briefs(res.Unapproved)); diff != "" {
				t.Errorf("unapproved (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(c.missing, briefs(res.Missing)); diff != "" {
				t.Errorf("missing (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(c.failed, res.Failed); diff != "" {
				t.Errorf("failed (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(c.ignored, res.Ignored); diff != "" {
				t.Errorf("ignored (-want +got):\n%s", diff)
			}
			if want := len(c.unapproved) == 0 && len(c.failed) == 0; res.OK() != want {
				t.Errorf("OK() = %v, want %v", res.OK(), want)
			}
		})
	}
}

func TestCompareWithoutReports(t *testing.T) {
	applied := &report.Report{Host: "h", Resources: []report.Resource{file("/etc/motd", applyEv("mode", "0644", "0600"))}}
	if res := reconcile.Compare(nil, applied, reconcile.Options{}); res.OK() || len(res.Unapproved) != 1 || res.Host != "h" {
		t.Errorf("no noop approves nothing: %+v", res)
	}
	failedNoop := &report.Report{Host: "h", Noop: true, Failed: true, Errors: []string{"compile error"}}
	if res := reconcile.Compare(failedNoop, applied, reconcile.Options{}); res.OK() || len(res.Unapproved) != 1 {
		t.Errorf("a failed noop approves nothing: %+v", res)
	}
	res := reconcile.Compare(failedNoop, nil, reconcile.Options{})
	if res.OK() || !res.RunFailed || res.Host != "h" || !strings.Contains(res.Reason(), "no report of the apply") {
		t.Errorf("no apply report is a failure: %+v, reason %q", res, res.Reason())
	}
}

func TestCompareDoesNotModify(t *testing.T) {
	noop := &report.Report{Resources: []report.Resource{withDiff(file("/etc/motd", noopEv("content", "{md5}a", "{md5}b")), diffAB)}}
	apply := &report.Report{Resources: []report.Resource{withDiff(file("/etc/motd", applyEv("content", "{md5}c", "{md5}b")), diffCB)}}
	before := []*report.Report{clone(noop), clone(apply)}
	reconcile.Compare(noop, apply, reconcile.Options{})
	if diff := cmp.Diff(before, []*report.Report{noop, apply}); diff != "" {
		t.Errorf("Compare modified its inputs:\n%s", diff)
	}
}

func clone(r *report.Report) *report.Report {
	c := *r
	c.Resources = nil
	for _, res := range r.Resources {
		res.Events = append([]report.Event(nil), res.Events...)
		c.Resources = append(c.Resources, res)
	}
	return &c
}
