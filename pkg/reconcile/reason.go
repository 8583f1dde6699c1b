package reconcile

import (
	"fmt"
	"strings"
)

// Bounds of the one-line texts: a halt reason names a few resources, not
// a thousand.
const (
	maxNamed   = 3   // resources named before "and N more"
	maxNameLen = 120 // runes of one resource name or error message
)

// Reason says in one line why the host failed reconciliation, naming the
// first resources of each kind; "" when OK. Such as:
//
//	unapproved changes: File[/etc/app.conf] (content), File[/etc/key] (mode); failed: Exec[migrate]
func (r *Result) Reason() string {
	var parts []string
	if len(r.Unapproved) > 0 {
		parts = append(parts, "unapproved changes: "+named(r.Unapproved))
	}
	if len(r.Failed) > 0 {
		parts = append(parts, "failed: "+list(r.Failed))
	} else if r.RunFailed {
		msg := "the run failed"
		if len(r.Errors) > 0 {
			msg += ": " + list(r.Errors[:1])
			if n := len(r.Errors) - 1; n > 0 {
				msg += fmt.Sprintf(" and %d more", n)
			}
		}
		parts = append(parts, msg)
	}
	return strings.Join(parts, "; ")
}

// MissingNote says in one line which reviewed changes did not happen,
// naming the first resources; "" when none.
func (r *Result) MissingNote() string {
	if len(r.Missing) == 0 {
		return ""
	}
	return "approved changes that did not happen: " + named(r.Missing)
}

// named names the findings' resources, each once, with what changed in
// parentheses: File[/etc/motd] (content, ensure).
func named(fs []Finding) string {
	var order []string
	what := map[string][]string{}
	for _, f := range fs {
		if _, ok := what[f.Resource]; !ok {
			order = append(order, f.Resource)
			what[f.Resource] = nil
		}
		w := f.Property
		if f.Refresh != "" {
			w = f.Refresh
		}
		if w != "" {
			what[f.Resource] = append(what[f.Resource], w)
		}
	}
	items := make([]string, len(order))
	for i, id := range order {
		items[i] = clip(id)
		if ws := what[id]; len(ws) > 0 {
			items[i] += " (" + strings.Join(ws, ", ") + ")"
		}
	}
	return list(items)
}

// list joins the first maxNamed items, clipped, and says how many more.
func list(items []string) string {
	n := min(len(items), maxNamed)
	shown := make([]string, n)
	for i := range shown {
		shown[i] = clip(items[i])
	}
	s := strings.Join(shown, ", ")
	if more := len(items) - n; more > 0 {
		s += fmt.Sprintf(" and %d more", more)
	}
	return s
}

// clip shortens s to maxNameLen runes, ending in "…" when cut.
func clip(s string) string {
	rs := []rune(s)
	if len(rs) <= maxNameLen {
		return s
	}
	return string(rs[:maxNameLen-1]) + "…"
}
