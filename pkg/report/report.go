// Package report parses Puppet's YAML run reports into balcony's normalized
// form: the resources that would change (or changed), their events, file
// diffs and log lines, with everything that differs between two runs of the
// same change (temp-file diff headers, log line numbers, per-node wording,
// checkout paths) removed. It does no I/O.
package report

import "time"

// Report is the normalized result of one Puppet run on one host.
type Report struct {
	Host          string `msgpack:"host" json:"host"`
	PuppetVersion string `msgpack:"puppet_version" json:"puppet_version,omitempty"`
	// PuppetStatus is Puppet's own status: changed, unchanged or failed.
	PuppetStatus string `msgpack:"puppet_status" json:"puppet_status,omitempty"`
	Noop         bool   `msgpack:"noop" json:"noop"`
	// Failed is true when the run did not complete: a compile error, a
	// timeout, an unknown revision, or resources that failed.
	Failed bool `msgpack:"failed" json:"failed"`
	// Errors holds the normalized error messages (compile errors, failed
	// resources, the agent's own errors).
	Errors []string `msgpack:"errors" json:"errors,omitempty"`
	// Resources lists only resources with something to show: events, a
	// kept log line (such as a refresh that would be triggered) or a failure.
	Resources []Resource `msgpack:"resources" json:"resources,omitempty"`
	Time      time.Time  `msgpack:"time" json:"time"`
	// Seconds is Puppet's own total run time from the report metrics.
	Seconds float64 `msgpack:"seconds" json:"seconds"`
	// NoopFalse lists, sorted, the resources of the catalog that ask for
	// noop => false, changed or not. The agent forces them to noop like
	// every other resource; a run in noop mode elsewhere (puppet agent
	// --noop) would change them.
	NoopFalse []string `msgpack:"noop_false" json:"noop_false,omitempty"`
}

// Resource is one resource's normalized change in one run.
type Resource struct {
	// ID is Puppet's reference, such as File[/etc/motd].
	ID    string `msgpack:"id" json:"id"`
	Type  string `msgpack:"type" json:"type"`
	Title string `msgpack:"title" json:"title"`
	// File is the manifest that declares the resource, relative to the
	// root of the code checkout (manifests/site.pp).
	File string `msgpack:"file" json:"file,omitempty"`
	Line int    `msgpack:"line" json:"line,omitempty"`
	// DefineType is the innermost defined type instance containing the
	// resource (Motd::Line[one]), empty when none.
	DefineType      string   `msgpack:"define_type" json:"define_type,omitempty"`
	ContainmentPath []string `msgpack:"containment_path" json:"containment_path,omitempty"`
	Events          []Event  `msgpack:"events" json:"events,omitempty"`
	// Diff is the content diff Puppet logged (--show_diff), with the
	// temporary file names and times removed from its headers.
	Diff string `msgpack:"diff" json:"diff,omitempty"`
	// Logs are the resource's log messages that carry information beyond
	// its events, such as "Would have triggered 'refresh' from 1 event".
	Logs   []string `msgpack:"logs" json:"logs,omitempty"`
	Failed bool     `msgpack:"failed" json:"failed,omitempty"`
	// ChangedDuringNoop is true when an event's status is not noop in a
	// noop run: the resource has noop => false and really changed.
	ChangedDuringNoop bool `msgpack:"changed_during_noop" json:"changed_during_noop,omitempty"`
	// NoopFalse is true when the resource asks for noop => false: see
	// Report.NoopFalse.
	NoopFalse bool `msgpack:"noop_false" json:"noop_false,omitempty"`
}

// Event is one property change of a resource.
type Event struct {
	Property string `msgpack:"property" json:"property"`
	Previous string `msgpack:"previous" json:"previous"`
	Desired  string `msgpack:"desired" json:"desired"`
	// Status is Puppet's event status: noop, success, failure, audit.
	Status string `msgpack:"status" json:"status"`
	// Message is kept only when it says more than "current_value X,
	// should be Y (noop)".
	Message string `msgpack:"message" json:"message,omitempty"`
}
