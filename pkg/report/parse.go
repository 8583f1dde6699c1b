package report

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// ErrNotReport is returned by Parse when the data is YAML but not a Puppet
// transaction report (no host, no resource_statuses and no logs).
var ErrNotReport = errors.New("not a puppet report")

// ParseOptions says which run-specific paths to remove so that two runs of
// the same code compare equal. The zero value removes nothing.
type ParseOptions struct {
	// CodeDir is the absolute path of the code checkout the run used. It is
	// stripped (with a trailing slash) from source files, messages and
	// diffs, so manifests/site.pp reads the same for every checkout.
	CodeDir string
	// HostRoot is a path prefix every managed path of the host carries, as
	// when several demo or test hosts share one machine and each manages a
	// directory of its own (a balcony_root fact). It is stripped from
	// resource titles, log sources, messages and diffs, so File[/etc/motd]
	// reads the same on every such host. Real hosts leave it empty.
	HostRoot string
}

// Parse parses a Puppet YAML transaction report (lastrunreport, report
// format 12 as written by Puppet 7) into its normalized form. Ruby tags
// (!ruby/object, !ruby/sym) are ignored and binary values are decoded.
// Resources are sorted by ID. Parse does no I/O; it fails only on malformed
// YAML or data that is not a report.
func Parse(data []byte, opts ParseOptions) (*Report, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("parse puppet report: %w", err)
	}
	untag(&root)
	var raw rawReport
	if err := root.Decode(&raw); err != nil {
		return nil, fmt.Errorf("decode puppet report: %w", err)
	}
	if raw.Host == "" && raw.ResourceStatuses == nil && raw.Logs == nil {
		return nil, ErrNotReport
	}
	n := newNormalizer(opts)
	r := &Report{
		Host:          raw.Host,
		PuppetVersion: raw.PuppetVersion,
		PuppetStatus:  raw.Status,
		Noop:          raw.Noop,
		Failed:        raw.Status == "failed",
		Seconds:       raw.total(),
	}
	if t, err := time.Parse(time.RFC3339Nano, raw.Time); err == nil {
		r.Time = t
	}
	b := newBuilder(r, n)
	for ref, st := range raw.ResourceStatuses {
		b.addStatus(ref, st)
	}
	for _, l := range raw.Logs {
		b.addLog(l)
	}
	r.Resources = b.resources()
	r.Errors = sortedUnique(r.Errors)
	if len(r.Errors) > 0 {
		r.Failed = true
	}
	return r, nil
}

// rawReport is the part of Puppet::Transaction::Report that balcony reads.
type rawReport struct {
	Host             string               `yaml:"host"`
	Time             string               `yaml:"time"`
	PuppetVersion    string               `yaml:"puppet_version"`
	Status           string               `yaml:"status"`
	Noop             bool                 `yaml:"noop"`
	Logs             []rawLog             `yaml:"logs"`
	Metrics          map[string]rawMetric `yaml:"metrics"`
	ResourceStatuses map[string]rawStatus `yaml:"resource_statuses"`
}

type rawLog struct {
	Level   string `yaml:"level"`
	Message string `yaml:"message"`
	Source  string `yaml:"source"`
}

type rawMetric struct {
	Values [][]any `yaml:"values"`
}

type rawStatus struct {
	Title           string     `yaml:"title"`
	File            string     `yaml:"file"`
	Line            int        `yaml:"line"`
	Resource        string     `yaml:"resource"`
	ResourceType    string     `yaml:"resource_type"`
	ContainmentPath []string   `yaml:"containment_path"`
	Failed          bool       `yaml:"failed"`
	Events          []rawEvent `yaml:"events"`
}

type rawEvent struct {
	Property string `yaml:"property"`
	Previous any    `yaml:"previous_value"`
	Desired  any    `yaml:"desired_value"`
	Message  string `yaml:"message"`
	Status   string `yaml:"status"`
	Redacted bool   `yaml:"redacted"`
}

// total returns Puppet's total run time from metrics.time, 0 when absent.
func (r rawReport) total() float64 {
	for _, v := range r.Metrics["time"].Values {
		if len(v) == 3 && v[0] == "total" {
			switch f := v[2].(type) {
			case float64:
				return f
			case int:
				return float64(f)
			}
		}
	}
	return 0
}

// untag removes Ruby's local tags (!ruby/object:..., !ruby/sym) so the
// nodes decode as plain maps and strings, and decodes binary scalars
// (!binary, !!binary), which Ruby writes for strings that are not UTF-8
// or that it considers binary.
func untag(n *yaml.Node) {
	switch {
	case n.Tag == "!binary" || n.Tag == "!!binary":
		n.Value = decodeBinary(n.Value)
		n.Tag = "!!str"
	case strings.HasPrefix(n.Tag, "!") && !strings.HasPrefix(n.Tag, "!!"):
		n.Tag = ""
		if n.Kind == yaml.ScalarNode {
			// A symbol or tagged scalar is text to us, never a number.
			n.Tag = "!!str"
		}
	}
	for _, c := range n.Content {
		untag(c)
	}
}

// builder collects resources from resource statuses and logs.
type builder struct {
	r    *Report
	n    *normalizer
	byID map[string]*Resource
	// byPath maps a log source ("/Stage[main]/.../File[/x]") to its resource.
	byPath map[string]*Resource
}

func newBuilder(r *Report, n *normalizer) *builder {
	return &builder{r: r, n: n, byID: map[string]*Resource{}, byPath: map[string]*Resource{}}
}

func (b *builder) addStatus(ref string, st rawStatus) {
	n := b.n
	id := n.text(firstNonEmpty(st.Resource, ref))
	res := &Resource{
		ID:     id,
		Type:   st.ResourceType,
		Title:  n.text(st.Title),
		File:   n.file(st.File),
		Line:   st.Line,
		Failed: st.Failed,
	}
	for _, p := range st.ContainmentPath {
		res.ContainmentPath = append(res.ContainmentPath, n.text(p))
	}
	res.DefineType = defineType(res.ContainmentPath)
	for _, e := range st.Events {
		ev := Event{
			Property: e.Property,
			Previous: renderValue(e.Previous),
			Desired:  renderValue(e.Desired),
			Status:   e.Status,
			Message:  n.eventMessage(e.Message),
		}
		if e.Redacted {
			ev.Previous, ev.Desired = redacted, redacted
		} else {
			ev.Previous, ev.Desired = n.text(ev.Previous), n.text(ev.Desired)
		}
		// A failure is not a change; audit only records. Anything else in
		// a noop run (success) means noop => false really changed the host.
		if b.r.Noop && e.Status != "noop" && e.Status != "audit" && e.Status != "failure" {
			res.ChangedDuringNoop = true
		}
		res.Events = append(res.Events, ev)
	}
	if st.Failed {
		b.r.Errors = append(b.r.Errors, id+": failed")
	}
	b.byID[id] = res
	b.byPath["/"+strings.Join(res.ContainmentPath, "/")] = res
}

// addLog files one log line: a resource's diff or message, a run error, or
// noise to drop.
func (b *builder) addLog(l rawLog) {
	n := b.n
	source := n.text(l.Source)
	res, property := b.resourceFor(source)
	msg := l.Message
	if res != nil && isDiff(msg) {
		res.Diff += n.diff(msg)
		return
	}
	msg = n.message(msg)
	if msg == "" || isGenericNoop(msg) {
		return
	}
	if l.Level == "err" {
		if res != nil {
			res.Failed = true
			b.replaceGenericError(res.ID, res.ID+": "+msg)
		} else {
			b.r.Errors = append(b.r.Errors, msg)
		}
	}
	if res == nil {
		// Class[...], Stage[...], Node[...], defined type containers and
		// Puppet itself: summaries of resource logs, or run-level notes.
		return
	}
	for _, e := range res.Events {
		if e.Message == msg {
			return // says what the event says
		}
	}
	if property != "" {
		msg = property + ": " + msg
	}
	res.Logs = append(res.Logs, msg)
}

// replaceGenericError swaps the "<id>: failed" placeholder from the
// resource status for the real message, or adds the message.
func (b *builder) replaceGenericError(id, msg string) {
	for i, e := range b.r.Errors {
		if e == id+": failed" {
			b.r.Errors[i] = msg
			return
		}
	}
	b.r.Errors = append(b.r.Errors, msg)
}

// resourceFor maps a log source to its resource and property. Titles may
// contain "/", so the source is looked up whole, then without its last
// element (the property), never split further.
func (b *builder) resourceFor(source string) (*Resource, string) {
	if r, ok := b.byPath[source]; ok {
		return r, ""
	}
	if i := strings.LastIndex(source, "/"); i > 0 {
		if r, ok := b.byPath[source[:i]]; ok {
			return r, source[i+1:]
		}
	}
	return nil, ""
}

// resources returns the resources worth showing, sorted by ID.
func (b *builder) resources() []Resource {
	var out []Resource
	for _, r := range b.byID {
		if len(r.Events) > 0 || len(r.Logs) > 0 || r.Diff != "" || r.Failed {
			out = append(out, *r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// defineType returns the innermost defined type instance of a containment
// path (the resource itself excluded): an element like Name::Sub[title]
// that is not a Stage, Class or Node. Classes appear without brackets.
func defineType(path []string) string {
	for i := len(path) - 2; i >= 0; i-- {
		p := path[i]
		if !strings.HasSuffix(p, "]") || !strings.Contains(p, "[") {
			continue
		}
		switch p[:strings.Index(p, "[")] {
		case "Stage", "Class", "Node":
			continue
		}
		return p
	}
	return ""
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
