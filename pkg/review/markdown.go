package review

import (
	"fmt"
	"sort"
	"strings"

	"github.com/balcony-dev/balcony/pkg/delta"
	"github.com/balcony-dev/balcony/pkg/fold"
	"github.com/balcony-dev/balcony/pkg/report"
)

// Markdown renders the document for people. Sections, in order: header
// (summary, outliers, commit, subject, author, progress), the commit's
// changes ("No changes." when none), errors, resources asking for noop =>
// false, withdrawn changes, hosts compared with another baseline, drift,
// ignored noise and hosts that did not answer. Empty sections are left
// out, except the changes. Changes, withdrawn changes and drift are shown
// folded (docs/review.md): per resource, its outliers first, and per-host
// variants as one pattern whose groups are listed below it. Diffs are
// trimmed to Context lines. Markdown never fails; its output depends on
// doc alone.
func Markdown(doc Document) string {
	var b strings.Builder
	r := doc.Result
	var changes []fold.Resource
	if r != nil {
		changes = fold.Section(trimGroups(r.Groups))
	}
	header(&b, doc, changes)
	if r == nil {
		b.WriteString("\nNo noop results yet.\n")
		return b.String()
	}
	b.WriteString("\n## Changes\n")
	if len(r.Groups) == 0 {
		b.WriteString("\nNo changes.\n")
	}
	section(&b, changes)
	if len(r.Errors) > 0 {
		b.WriteString("\n## Errors\n\n")
		for _, e := range r.Errors {
			fmt.Fprintf(&b, "- **%s**:\n%s", CompressHosts(e.Hosts), fence("", e.Message+"\n"))
		}
	}
	if len(r.NoopFalse) > 0 {
		b.WriteString("\n## noop => false\n\nThese ask for `noop => false`. The noop forced them to noop; a Puppet run in noop mode elsewhere (`puppet agent --noop`) would change them:\n\n")
		for _, n := range r.NoopFalse {
			fmt.Fprintf(&b, "- `%s` on %s\n", n.Resource, CompressHosts(n.Hosts))
		}
	}
	if len(r.Withdrawn) > 0 {
		b.WriteString("\n## Withdrawn\n\nPending in the parent's noop, no longer in this commit's:\n")
		section(&b, fold.Section(trimGroups(r.Withdrawn)))
	}
	baselines(&b, r.Baselines)
	if len(r.Drift) > 0 {
		b.WriteString("\n## Drift\n\nWhat the noop of the last applied revision shows (not this commit's doing):\n")
		section(&b, fold.Section(trimGroups(r.Drift)))
	}
	if len(r.Ignored) > 0 {
		b.WriteString("\n## Ignored\n\n")
		for _, n := range r.Ignored {
			fmt.Fprintf(&b, "- `%s[%s]` (%s): %s on %s\n", n.Type, n.Title, n.Purpose,
				strings.Join(n.Resources, ", "), CompressHosts(n.Hosts))
		}
	}
	if len(r.Unanswered) > 0 {
		if doc.Complete {
			b.WriteString("\n## Did not answer\n\n")
		} else {
			b.WriteString("\n## Still running\n\n")
		}
		fmt.Fprintf(&b, "%s\n", CompressHosts(r.Unanswered))
	}
	return b.String()
}

// header renders the title, the summary (first, so that a review split
// over several GitHub comments starts with it), the outliers and the
// commit.
func header(b *strings.Builder, doc Document, changes []fold.Resource) {
	c := doc.Commit
	fmt.Fprintf(b, "# Noop of %s: %s\n\n", short(c.SHA), c.Subject)
	if doc.Result != nil {
		fmt.Fprintf(b, "**Summary:** %s.\n\n", summarize(doc.Result, changes))
		outliers(b, changes)
	}
	fmt.Fprintf(b, "- **Commit:** `%s` by %s", c.SHA, c.Author)
	if c.AuthorEmail != "" {
		fmt.Fprintf(b, " <%s>", c.AuthorEmail)
	}
	b.WriteString("\n")
	if doc.Repo != "" || doc.Branch != "" {
		fmt.Fprintf(b, "- **Repository:** %s, branch %s\n", doc.Repo, doc.Branch)
	}
	if p := doc.Progress; p != nil && !doc.Complete {
		fmt.Fprintf(b, "- **Progress:** %s\n", p)
	}
	r := doc.Result
	if r == nil {
		return
	}
	if r.Parent != "" {
		fmt.Fprintf(b, "- **Compared with:** `%s` (first parent)\n", short(r.Parent))
	}
	answered := len(r.Hosts) - len(r.Unanswered)
	fmt.Fprintf(b, "- **Hosts:** %s of %s answered", count(answered), count(len(r.Hosts)))
	if !doc.Complete {
		b.WriteString(" (noop still running: this review is partial)")
	}
	b.WriteString("\n")
}

func event(b *strings.Builder, e report.Event) {
	prev, want := e.Previous, e.Desired
	if prev == "" {
		prev = "(none)"
	}
	if want == "" {
		want = "(none)"
	}
	fmt.Fprintf(b, "- `%s`: `%s` → `%s`", e.Property, prev, want)
	if e.Status != "noop" && e.Status != "" {
		fmt.Fprintf(b, " (%s)", e.Status)
	}
	if e.Message != "" {
		fmt.Fprintf(b, ": %s", e.Message)
	}
	b.WriteString("\n")
}

// baselines renders the baseline notes, hosts with the same note together.
func baselines(b *strings.Builder, notes []delta.BaselineNote) {
	if len(notes) == 0 {
		return
	}
	type key struct{ rev, reason string }
	hosts := map[key][]string{}
	var keys []key
	for _, n := range notes {
		k := key{n.Revision, n.Reason}
		if _, ok := hosts[k]; !ok {
			keys = append(keys, k)
		}
		hosts[k] = append(hosts[k], n.Host)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].rev != keys[j].rev {
			return keys[i].rev < keys[j].rev
		}
		return keys[i].reason < keys[j].reason
	})
	b.WriteString("\n## Compared with another revision\n\n")
	for _, k := range keys {
		with := "nothing"
		if k.rev != "" {
			with = "`" + short(k.rev) + "`"
		}
		fmt.Fprintf(b, "- %s: compared with %s, as %s.\n", CompressHosts(hosts[k]), with, k.reason)
	}
}

// fence wraps text in a code fence longer than any backtick run in it, so
// a diff of a Markdown file cannot end the block early.
func fence(lang, text string) string {
	n := 3
	for run, i := 0, 0; i < len(text); i++ {
		if text[i] == '`' {
			run++
			n = max(n, run+1)
		} else {
			run = 0
		}
	}
	f := strings.Repeat("`", n)
	if !strings.HasSuffix(text, "\n") {
		text += "\n"
	}
	return f + lang + "\n" + text + f + "\n"
}

func short(sha string) string {
	if len(sha) > 10 {
		return sha[:10]
	}
	return sha
}
