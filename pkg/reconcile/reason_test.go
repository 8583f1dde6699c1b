package reconcile_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/balcony-dev/balcony/pkg/reconcile"
)

func finding(id, prop string) reconcile.Finding {
	return reconcile.Finding{Resource: id, Property: prop, Why: reconcile.WhyNotReviewed}
}

func TestReason(t *testing.T) {
	long := "File[/" + strings.Repeat("d/", 100) + "x]"
	cases := []struct {
		name string
		res  reconcile.Result
		want string
	}{
		{"ok", reconcile.Result{Missing: []reconcile.Finding{finding("File[/a]", "mode")}}, ""},
		{
			"one resource, its properties once each",
			reconcile.Result{Unapproved: []reconcile.Finding{finding("File[/a]", "content"), finding("File[/a]", "mode"), {Resource: "Service[app]", Refresh: "refresh"}}},
			"unapproved changes: File[/a] (content, mode), Service[app] (refresh)",
		},
		{
			"at most three resources named",
			reconcile.Result{Unapproved: []reconcile.Finding{finding("File[/a]", "mode"), finding("File[/b]", "mode"), finding("File[/c]", "mode"), finding("File[/d]", "mode"), finding("File[/e]", "mode")}},
			"unapproved changes: File[/a] (mode), File[/b] (mode), File[/c] (mode) and 2 more",
		},
		{
			"failed resources after unapproved changes",
			reconcile.Result{RunFailed: true, Failed: []string{"Exec[a]", "Exec[b]"}, Errors: []string{"Exec[a]: x", "Exec[b]: y"}, Unapproved: []reconcile.Finding{finding("File[/a]", "mode")}},
			"unapproved changes: File[/a] (mode); failed: Exec[a], Exec[b]",
		},
		{
			"a run that failed without failed resources: its first error",
			reconcile.Result{RunFailed: true, Errors: []string{"Could not find class foo", "second"}},
			"the run failed: Could not find class foo and 1 more",
		},
		{
			"a long name is clipped",
			reconcile.Result{Failed: []string{long}},
			"failed: " + long[:119] + "…",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := c.res.Reason(); got != c.want {
				t.Errorf("Reason() = %q, want %q", got, c.want)
			}
			if got := c.res.Reason(); utf8.RuneCountInString(got) > 500 {
				t.Errorf("Reason() is %d runes long", utf8.RuneCountInString(got))
			}
		})
	}
}

func TestMissingNote(t *testing.T) {
	res := reconcile.Result{Missing: []reconcile.Finding{finding("File[/a]", "mode"), {Resource: "Service[app]", Refresh: "refresh"}}}
	if got, want := res.MissingNote(), "approved changes that did not happen: File[/a] (mode), Service[app] (refresh)"; got != want {
		t.Errorf("MissingNote() = %q, want %q", got, want)
	}
	if got := (&reconcile.Result{}).MissingNote(); got != "" {
		t.Errorf("MissingNote() with nothing missing = %q", got)
	}
}
