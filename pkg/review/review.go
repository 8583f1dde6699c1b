// Package review renders the delta of a commit as a review document:
// Markdown for people (GitHub, chat) in the manner of heckler's noop
// issues, and JSON of a stable, documented shape for tools
// (docs/review-json.md). It is pure: no I/O, no clock.
package review

import (
	"encoding/json"
	"fmt"

	"github.com/balcony-dev/balcony/pkg/delta"
	"github.com/balcony-dev/balcony/pkg/fold"
	"github.com/balcony-dev/balcony/pkg/protocol"
	"github.com/balcony-dev/balcony/pkg/report"
)

// Context is the number of context lines shown around each change of a
// diff. Puppet's diffs arrive with the whole file as context.
const Context = 3

// JSONSchema is the version of the JSON shape written by JSON; it changes
// only when a field changes meaning or goes away.
const JSONSchema = 1

// Document is one commit's review.
type Document struct {
	Repo   string
	Branch string
	Commit protocol.Commit
	// Result is the commit's delta; nil renders as "no noop yet".
	Result *delta.Result
	// Complete is false while hosts are still running the noop: their
	// absence is then "still running", not "did not answer".
	Complete bool
	// Progress says how far a noop still running has come; nil once it is
	// complete, or when unknown.
	Progress *Progress
}

// Progress is how far the noop of a commit has come.
type Progress struct {
	// Answered counts the hosts every noop of which has arrived (the
	// commit's, its parent's and any other the delta needs there).
	Answered int `json:"answered"`
	// Hosts counts every host of the noop.
	Hosts int `json:"hosts"`
	// Missing names the hosts still to answer once at most MissingListed
	// remain, sorted; empty while more remain.
	Missing []string `json:"missing"`
}

// MissingListed is how few hosts must remain for Progress to name them.
const MissingListed = 10

// jsonDocument is the JSON shape of a Document, documented in
// docs/review-json.md.
type jsonDocument struct {
	Schema   int             `json:"schema"`
	Repo     string          `json:"repo"`
	Branch   string          `json:"branch"`
	Commit   protocol.Commit `json:"commit"`
	Complete bool            `json:"complete"`
	Progress *Progress       `json:"progress,omitempty"`
	Result   *delta.Result   `json:"result"`
}

// jsonOutput is what JSON writes: the document, its summary and its folds.
// ParseJSON reads the document only; Markdown folds again.
type jsonOutput struct {
	jsonDocument
	Summary *Summary   `json:"summary,omitempty"`
	Folds   *jsonFolds `json:"folds,omitempty"`
}

// jsonFolds are the folds of each section of the result (docs/review.md).
type jsonFolds struct {
	Groups    []jsonResource `json:"groups"`
	Withdrawn []jsonResource `json:"withdrawn,omitempty"`
	Drift     []jsonResource `json:"drift,omitempty"`
}

type jsonResource struct {
	Resource string     `json:"resource"`
	Hosts    int        `json:"hosts"`
	Groups   int        `json:"groups"`
	Folds    []jsonFold `json:"folds"`
}

type jsonFold struct {
	Pattern           report.Resource `json:"pattern"`
	Hosts             []string        `json:"hosts"`
	Variants          []jsonVariant   `json:"variants"`
	Outlier           bool            `json:"outlier,omitempty"`
	Majority          bool            `json:"majority,omitempty"`
	ChangedDuringNoop bool            `json:"changed_during_noop,omitempty"`
	NoopFalse         bool            `json:"noop_false,omitempty"`
}

type jsonVariant struct {
	ID     string   `json:"id"`
	Hosts  []string `json:"hosts"`
	Values []string `json:"values,omitempty"`
}

func foldsJSON(resources []fold.Resource) []jsonResource {
	out := make([]jsonResource, 0, len(resources))
	for _, r := range resources {
		jr := jsonResource{Resource: r.ID, Hosts: r.Hosts, Groups: r.Groups, Folds: make([]jsonFold, len(r.Folds))}
		for i, f := range r.Folds {
			jf := jsonFold{
				Pattern: f.Pattern, Hosts: f.Hosts, Outlier: f.Outlier, Majority: f.Majority,
				ChangedDuringNoop: f.ChangedDuringNoop, NoopFalse: f.NoopFalse,
				Variants: make([]jsonVariant, len(f.Variants)),
			}
			for j, v := range f.Variants {
				jf.Variants[j] = jsonVariant(v)
			}
			jr.Folds[i] = jf
		}
		out = append(out, jr)
	}
	return out
}

// JSON returns the document as indented JSON: diffs trimmed to Context
// lines as in the Markdown, and without the per-host deltas (Result.PerHost),
// which the groups summarize; with the summary and the folds the Markdown
// shows. The document is not modified.
func JSON(doc Document) ([]byte, error) {
	res := trimmed(doc.Result)
	out := jsonOutput{jsonDocument: jsonDocument{
		Schema: JSONSchema, Repo: doc.Repo, Branch: doc.Branch,
		Commit: doc.Commit, Complete: doc.Complete, Result: res,
	}}
	if res != nil {
		changes := fold.Section(res.Groups)
		sum := summarize(res, changes)
		out.Summary = &sum
		out.Folds = &jsonFolds{Groups: foldsJSON(changes)}
		if len(res.Withdrawn) > 0 {
			out.Folds.Withdrawn = foldsJSON(fold.Section(res.Withdrawn))
		}
		if len(res.Drift) > 0 {
			out.Folds.Drift = foldsJSON(fold.Section(res.Drift))
		}
	}
	// Lists are [] when empty, never null (docs/review-json.md).
	if out.Commit.Parents == nil {
		out.Commit.Parents = []string{}
	}
	if doc.Progress != nil && !doc.Complete {
		p := *doc.Progress
		if p.Missing == nil {
			p.Missing = []string{}
		}
		out.Progress = &p
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode review: %w", err)
	}
	return append(b, '\n'), nil
}

// ParseJSON reads a document written by JSON, as the nooper's show
// service answers it: its diffs are trimmed and it has no per-host deltas,
// which Markdown does not need.
func ParseJSON(data []byte) (Document, error) {
	var in jsonDocument
	if err := json.Unmarshal(data, &in); err != nil {
		return Document{}, fmt.Errorf("decode review: %w", err)
	}
	if in.Schema != JSONSchema {
		return Document{}, fmt.Errorf("decode review: schema %d, want %d", in.Schema, JSONSchema)
	}
	return Document{Repo: in.Repo, Branch: in.Branch, Commit: in.Commit, Complete: in.Complete, Progress: in.Progress, Result: in.Result}, nil
}

// trimmed returns a copy of r for display: diffs trimmed, PerHost dropped.
func trimmed(r *delta.Result) *delta.Result {
	if r == nil {
		return nil
	}
	c := *r
	c.PerHost = nil
	c.Groups, c.Withdrawn, c.Drift = trimGroups(r.Groups), trimGroups(r.Withdrawn), trimGroups(r.Drift)
	if c.Groups == nil {
		c.Groups = []delta.Group{}
	}
	if c.Hosts == nil {
		c.Hosts = []string{}
	}
	return &c
}

func trimGroups(gs []delta.Group) []delta.Group {
	if gs == nil {
		return nil
	}
	out := make([]delta.Group, len(gs))
	for i, g := range gs {
		g.Resource = trimResource(g.Resource)
		out[i] = g
	}
	return out
}

func trimResource(r report.Resource) report.Resource {
	if r.Diff != "" {
		r.Diff = delta.TrimDiff(r.Diff, Context)
	}
	return r
}

// String says how far the noop has come in one line: "5 of 12 hosts
// answered", and which are missing once few are.
func (p Progress) String() string {
	s := fmt.Sprintf("%d of %d hosts answered", p.Answered, p.Hosts)
	if len(p.Missing) > 0 {
		s += "; waiting for " + CompressHosts(p.Missing)
	}
	return s
}
