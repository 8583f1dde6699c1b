package review

import (
	"fmt"
	"strings"

	"github.com/balcony-dev/balcony/pkg/delta"
	"github.com/balcony-dev/balcony/pkg/fold"
)

// Summary counts what a review shows, for its first lines and for short
// messages (the noop.ready event, chat): one line that says how big the
// change is and whether some hosts do something else than the rest.
type Summary struct {
	// Hosts counts every host of the noop; Answered those that answered.
	Hosts    int `json:"hosts"`
	Answered int `json:"answered"`
	// Changes counts the commit's change groups (what approvals bind to),
	// Resources the resources they change, ChangedHosts the hosts with at
	// least one of them.
	Changes      int `json:"changes"`
	Resources    int `json:"resources"`
	ChangedHosts int `json:"changed_hosts"`
	// Patterns counts the folds the changes are shown as (docs/review.md);
	// Folded those of several groups.
	Patterns int `json:"patterns"`
	Folded   int `json:"folded"`
	// Outliers counts the changes of a resource that fewer hosts make than
	// its majority change, and OutlierHosts the hosts making them.
	Outliers     int `json:"outliers"`
	OutlierHosts int `json:"outlier_hosts"`
	// Errors counts distinct failure messages, ErrorHosts the hosts that
	// failed.
	Errors     int `json:"errors"`
	ErrorHosts int `json:"error_hosts"`
	// Withdrawn and Drift count the groups of those sections.
	Withdrawn int `json:"withdrawn"`
	Drift     int `json:"drift"`
}

// Summarize counts what the review of r shows. r is not modified; nil
// gives the zero Summary.
func Summarize(r *delta.Result) Summary {
	if r == nil {
		return Summary{}
	}
	return summarize(r, fold.Section(trimGroups(r.Groups)))
}

func summarize(r *delta.Result, changes []fold.Resource) Summary {
	s := Summary{
		Hosts: len(r.Hosts), Answered: len(r.Hosts) - len(r.Unanswered),
		Changes: len(r.Groups), Resources: len(changes),
		Errors: len(r.Errors), Withdrawn: len(r.Withdrawn), Drift: len(r.Drift),
	}
	changed := map[string]bool{}
	for _, g := range r.Groups {
		for _, h := range g.Hosts {
			changed[h] = true
		}
	}
	s.ChangedHosts = len(changed)
	for _, res := range changes {
		s.Patterns += len(res.Folds)
		for _, f := range res.Folds {
			if len(f.Variants) > 1 {
				s.Folded++
			}
		}
		n, hosts := res.Outliers()
		s.Outliers += n
		s.OutlierHosts += hosts
	}
	failed := map[string]bool{}
	for _, e := range r.Errors {
		for _, h := range e.Hosts {
			failed[h] = true
		}
	}
	s.ErrorHosts = len(failed)
	return s
}

// String says the summary in one line: "1,003 changes to 3 resources on
// 1,000 of 1,000 hosts (4 patterns); 1 outlier: 3 hosts differ; no errors".
func (s Summary) String() string {
	var parts []string
	if s.Changes == 0 {
		parts = append(parts, fmt.Sprintf("no changes (%s of %s hosts answered)", count(s.Answered), count(s.Hosts)))
	} else {
		p := fmt.Sprintf("%s to %s on %s of %s hosts", plural(s.Changes, "change", "changes"),
			plural(s.Resources, "resource", "resources"), count(s.ChangedHosts), count(s.Hosts))
		if s.Patterns != s.Changes {
			p += fmt.Sprintf(", shown as %s", plural(s.Patterns, "pattern", "patterns"))
		}
		parts = append(parts, p)
	}
	switch {
	case s.Outliers > 0:
		parts = append(parts, fmt.Sprintf("%s: %s %s", plural(s.Outliers, "outlier", "outliers"),
			plural(s.OutlierHosts, "host", "hosts"), verb(s.OutlierHosts, "differs", "differ")))
	case s.Changes > 0:
		parts = append(parts, "no outliers")
	}
	if s.Errors > 0 {
		parts = append(parts, fmt.Sprintf("%s on %s", plural(s.Errors, "error", "errors"), plural(s.ErrorHosts, "host", "hosts")))
	} else {
		parts = append(parts, "no errors")
	}
	if n := s.Hosts - s.Answered; n > 0 && s.Changes > 0 {
		parts = append(parts, fmt.Sprintf("%s not answered", plural(n, "host", "hosts")))
	}
	if s.Withdrawn > 0 {
		parts = append(parts, plural(s.Withdrawn, "withdrawn change", "withdrawn changes"))
	}
	if s.Drift > 0 {
		parts = append(parts, fmt.Sprintf("%s of drift", plural(s.Drift, "change", "changes")))
	}
	return strings.Join(parts, "; ")
}

// count prints n with thousands separators: 10,000.
func count(n int) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return s
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return count(n) + " " + many
}

func verb(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
