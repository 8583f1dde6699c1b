package review

import (
	"fmt"
	"strings"

	"github.com/balcony-dev/balcony/pkg/fold"
)

// hostsInline is how long a compressed host list may be to stand on its
// line; a longer one goes into a <details> block below the change.
const hostsInline = 200

// outliersLine says how a resource's hosts split: "5 hosts change it one
// way; 3 hosts differ", "" when it has one change only.
func outliersLine(r fold.Resource) string {
	if len(r.Folds) < 2 {
		return ""
	}
	if m := r.Majority(); m != nil {
		_, hosts := r.Outliers()
		return fmt.Sprintf("%s change it one way; %s %s", plural(len(m.Hosts), "host", "hosts"),
			plural(hosts, "host", "hosts"), verb(hosts, "differs", "differ"))
	}
	sizes := make([]string, len(r.Folds))
	for i, f := range r.Folds {
		sizes[i] = count(len(f.Hosts))
	}
	return fmt.Sprintf("%s ways, none on most of its hosts: %s hosts", count(len(r.Folds)), strings.Join(sizes, ", "))
}

// outliers lists, under the summary, the resources some hosts change
// differently from most: what a reviewer must not miss.
func outliers(b *strings.Builder, changes []fold.Resource) {
	first := true
	for _, r := range changes {
		if n, _ := r.Outliers(); n == 0 {
			continue
		}
		if first {
			b.WriteString("**Outliers** (shown first under Changes):\n\n")
			first = false
		}
		fmt.Fprintf(b, "- `%s`: %s\n", r.ID, outliersLine(r))
	}
	if !first {
		b.WriteString("\n")
	}
}

// section renders one section's resources, each with its folds.
func section(b *strings.Builder, resources []fold.Resource) {
	for _, r := range resources {
		fmt.Fprintf(b, "\n### %s\n", r.ID)
		if line := outliersLine(r); line != "" {
			fmt.Fprintf(b, "\n%s.\n", capitalize(line))
		}
		for _, f := range r.Folds {
			if len(r.Folds) > 1 {
				fmt.Fprintf(b, "\n#### %s\n", foldHeading(f))
			}
			foldBody(b, f)
		}
	}
}

func foldHeading(f fold.Fold) string {
	n := plural(len(f.Hosts), "host", "hosts")
	switch {
	case f.Outlier:
		return "Outlier: " + n
	case f.Majority:
		return "Majority: " + n
	default:
		return n
	}
}

// foldBody renders one fold: the change (its pattern), its hosts and its
// groups, whose ids approvals name.
func foldBody(b *strings.Builder, f fold.Fold) {
	r := f.Pattern
	b.WriteString("\n")
	if r.DefineType != "" {
		fmt.Fprintf(b, "- **Define type:** %s\n", r.DefineType)
	}
	if r.File != "" {
		fmt.Fprintf(b, "- **Source:** %s:%d\n", r.File, r.Line)
	}
	hosts := CompressHosts(f.Hosts)
	long := len(hosts) > hostsInline
	switch {
	case !long:
		fmt.Fprintf(b, "- **Hosts:** %s\n", hosts)
	case len(f.Variants) > 1:
		fmt.Fprintf(b, "- **Hosts:** %s, listed with the groups below\n", count(len(f.Hosts)))
	default:
		fmt.Fprintf(b, "- **Hosts:** %s, listed below\n", count(len(f.Hosts)))
	}
	for _, e := range r.Events {
		event(b, e)
	}
	for _, l := range r.Logs {
		fmt.Fprintf(b, "- Log: %s\n", l)
	}
	if r.Failed {
		b.WriteString("- **Failed**\n")
	}
	if f.ChangedDuringNoop {
		b.WriteString("\n> **Warning:** changed during the noop (noop => false): this already happened on these hosts.\n")
	}
	if f.NoopFalse {
		b.WriteString("\n> **Note:** asks for `noop => false`: forced to noop for this review.\n")
	}
	if r.Diff != "" {
		b.WriteString("\n" + fence("diff", r.Diff))
	}
	if len(f.Variants) == 1 {
		if long {
			fmt.Fprintf(b, "\n<details><summary>%s</summary>\n\n%s\n\n</details>\n", plural(len(f.Hosts), "host", "hosts"), hosts)
		}
		fmt.Fprintf(b, "\n<sub>group %s</sub>\n", f.Variants[0].ID)
		return
	}
	variants(b, f)
}

// variants lists a fold's groups, each with its hosts and its own values
// at the pattern's <per-host> placeholders, folded away.
func variants(b *strings.Builder, f fold.Fold) {
	var legend []string
	text := patternText(f)
	for _, p := range []string{fold.Certname, fold.Hostname, fold.PerHost} {
		if strings.Contains(text, p) {
			legend = append(legend, "`"+p+"`")
		}
	}
	fmt.Fprintf(b, "\n%s, one per variant", plural(len(f.Variants), "group", "groups"))
	if len(legend) > 0 {
		fmt.Fprintf(b, " (%s: each host's own)", strings.Join(legend, ", "))
	}
	fmt.Fprintf(b, ":\n\n<details><summary>%s: group → hosts</summary>\n\n", plural(len(f.Variants), "group", "groups"))
	for _, v := range f.Variants {
		fmt.Fprintf(b, "- `%s` %s", v.ID, CompressHosts(v.Hosts))
		if len(v.Values) > 0 {
			vals := make([]string, len(v.Values))
			for i, s := range v.Values {
				vals[i] = "`" + s + "`"
			}
			fmt.Fprintf(b, ": %s", strings.Join(vals, ", "))
		}
		b.WriteString("\n")
	}
	b.WriteString("\n</details>\n")
}

// patternText is every text of a fold's pattern, to find its placeholders.
func patternText(f fold.Fold) string {
	var b strings.Builder
	for _, e := range f.Pattern.Events {
		b.WriteString(e.Previous + e.Desired + e.Message)
	}
	b.WriteString(f.Pattern.Diff)
	for _, l := range f.Pattern.Logs {
		b.WriteString(l)
	}
	return b.String()
}

func capitalize(s string) string {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}
