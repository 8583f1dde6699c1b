package delta

import (
	"fmt"
	"regexp"
	"sort"

	"github.com/balcony-dev/balcony/pkg/report"
)

// Validate reports ignore rules with no type or a title that is not a valid
// regular expression. Compute accepts them anyway (matching such a title
// literally); configuration loaders should call Validate.
func (o Options) Validate() error {
	for i, ig := range o.Ignored {
		if ig.Type == "" {
			return fmt.Errorf("ignored resource %d: no type", i)
		}
		if _, err := regexp.Compile(anchor(ig.Title)); err != nil {
			return fmt.Errorf("ignored resource %d (%s): title: %w", i, ig.Type, err)
		}
	}
	return nil
}

func anchor(re string) string { return `^(?:` + re + `)$` }

// ignorer removes ignored resources and remembers what it removed.
type ignorer struct {
	rules []rule
}

type rule struct {
	IgnoredResource
	title     *regexp.Regexp
	resources map[string]bool
	hosts     map[string]bool
}

func newIgnorer(rs []IgnoredResource) *ignorer {
	ig := &ignorer{}
	for _, r := range rs {
		re, err := regexp.Compile(anchor(r.Title))
		if err != nil {
			re = regexp.MustCompile(anchor(regexp.QuoteMeta(r.Title)))
		}
		ig.rules = append(ig.rules, rule{IgnoredResource: r, title: re, resources: map[string]bool{}, hosts: map[string]bool{}})
	}
	return ig
}

// filter returns rs without the ignored resources, and records them as
// removed on host. rs is not modified and is returned as is when nothing
// matches.
func (ig *ignorer) filter(host string, rs []report.Resource) []report.Resource {
	return ig.remove(rs, func(r *rule, res *report.Resource) {
		r.resources[res.ID] = true
		r.hosts[host] = true
	})
}

// without returns rs without the ignored resources, recording nothing.
func (ig *ignorer) without(rs []report.Resource) []report.Resource {
	return ig.remove(rs, func(*rule, *report.Resource) {})
}

func (ig *ignorer) remove(rs []report.Resource, removed func(*rule, *report.Resource)) []report.Resource {
	if len(ig.rules) == 0 {
		return rs
	}
	var out []report.Resource
	for i := range rs {
		if r := ig.match(&rs[i]); r != nil {
			if out == nil {
				out = append(make([]report.Resource, 0, len(rs)), rs[:i]...)
			}
			removed(r, &rs[i])
			continue
		}
		if out != nil {
			out = append(out, rs[i])
		}
	}
	if out == nil {
		return rs
	}
	return out
}

// IgnoreMatcher tells which resources a list of IgnoredResource rules
// ignores, matching exactly as the delta does (the type exactly, the title
// as an anchored regular expression, an invalid one literally): what else
// compares reports (reconciliation) ignores the same resources.
type IgnoreMatcher struct{ ig *ignorer }

// NewIgnoreMatcher compiles rs.
func NewIgnoreMatcher(rs []IgnoredResource) IgnoreMatcher {
	return IgnoreMatcher{ig: newIgnorer(rs)}
}

// Ignores tells whether a rule ignores r.
func (m IgnoreMatcher) Ignores(r *report.Resource) bool {
	return m.ig.match(r) != nil
}

func (ig *ignorer) match(r *report.Resource) *rule {
	for i := range ig.rules {
		if ig.rules[i].Type == r.Type && ig.rules[i].title.MatchString(r.Title) {
			return &ig.rules[i]
		}
	}
	return nil
}

// notes lists the rules that removed something, in configuration order.
func (ig *ignorer) notes() []IgnoredNote {
	var out []IgnoredNote
	for _, r := range ig.rules {
		if len(r.resources) == 0 {
			continue
		}
		out = append(out, IgnoredNote{
			Type: r.Type, Title: r.Title, Purpose: r.Purpose,
			Resources: sortedKeys(r.resources), Hosts: sortedKeys(r.hosts),
		})
	}
	return out
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
