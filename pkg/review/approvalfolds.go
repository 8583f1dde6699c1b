package review

import (
	"fmt"
	"sort"
	"strings"

	"github.com/balcony-dev/balcony/pkg/fold"
	"github.com/balcony-dev/balcony/pkg/owners"
)

// statusLine is one line of the approval status: groups of one fold (or
// one group alone) whose owners and approval state are the same, shown
// once with a count. Approvals stay bound to the groups; the line lists
// their ids.
type statusLine struct {
	resource string
	// pos is the fold's place in the review's order (fold.Section);
	// outlier and majority are the fold's.
	pos               int
	outlier, majority bool
	groups            []owners.GroupStatus
	hosts             [][]string // each group's hosts
}

func (l *statusLine) approved() bool { return l.groups[0].Approved }

// foldPlace is where a group is in the review's folds.
type foldPlace struct {
	pos               int
	resource          string
	outlier, majority bool
}

// statusLines folds v's group statuses. With v.Changes, groups go together
// when fold.Section puts them in one fold and their owners and approval
// state are the same (missing approvals named by each group's own host
// count as the same); without, each group is its own line. Lines awaiting
// approval come first, outliers first among them, then the approved ones
// in the same order.
func statusLines(v ApprovalView) []*statusLine {
	names := map[string]ApprovalGroup{}
	for _, g := range v.Groups {
		names[g.ID] = g
	}
	places := map[string]foldPlace{}
	pos := 0
	for _, r := range fold.Section(trimGroups(v.Changes)) {
		for _, f := range r.Folds {
			for _, vr := range f.Variants {
				places[vr.ID] = foldPlace{pos: pos, resource: r.ID, outlier: f.Outlier, majority: f.Majority}
			}
			pos++
		}
	}
	byKey := map[string]*statusLine{}
	var lines []*statusLine
	for i, g := range v.Status.Groups {
		n := names[g.ID]
		p, ok := places[g.ID]
		if !ok { // no content to fold it by: on its own, in status order
			p = foldPlace{pos: pos + i, resource: n.Resource}
		}
		k := fmt.Sprintf("%d\x00%s", p.pos, stateKey(g, n.Hosts))
		l := byKey[k]
		if l == nil {
			l = &statusLine{resource: p.resource, pos: p.pos, outlier: p.outlier, majority: p.majority}
			if l.resource == "" {
				l.resource = n.Resource
			}
			byKey[k] = l
			lines = append(lines, l)
		}
		l.groups = append(l.groups, g)
		l.hosts = append(l.hosts, n.Hosts)
	}
	sort.SliceStable(lines, func(i, j int) bool {
		a, b := lines[i], lines[j]
		if a.approved() != b.approved() {
			return !a.approved()
		}
		if a.outlier != b.outlier {
			return a.outlier
		}
		return a.pos < b.pos
	})
	return lines
}

// stateKey is what groups of one line share: their owners (node files by
// path and owners, without their hosts) and their approval state, the
// missing sentence with a one-host group's host as fold.Certname.
func stateKey(g owners.GroupStatus, hosts []string) string {
	var nodes []string
	for _, n := range g.Owners.Nodes {
		nodes = append(nodes, fmt.Sprintf("%q %q", n.Path, n.Owners))
	}
	return fmt.Sprintf("%v\x00%v\x00%q\x00%v %q %q %q %q\x00%s", g.Owners.File, g.Owners.Module, nodes,
		g.Approved, g.Via, g.ApprovedBy, g.Lapsed, g.Excluded, missingOf(g, hosts))
}

// missingOf is g's missing sentence, with the host of a one-host group
// written fold.Certname, so that the groups of one host each that need the
// same owners say the same.
func missingOf(g owners.GroupStatus, hosts []string) string {
	if len(hosts) != 1 {
		return g.Missing
	}
	return replaceHost(g.Missing, hosts[0], "`"+fold.Certname+"`")
}

// replaceHost replaces host in s where it stands as a whole name (not
// inside a longer one).
func replaceHost(s, host, repl string) string {
	var b strings.Builder
	for {
		i := strings.Index(s, host)
		if i < 0 {
			return b.String() + s
		}
		end := i + len(host)
		if i > 0 && nameByte(s[i-1]) || end < len(s) && (nameByte(s[end]) || s[end] == '.' && end+1 < len(s) && nameByte(s[end+1])) {
			b.WriteString(s[:end])
		} else {
			b.WriteString(s[:i] + repl)
		}
		s = s[end:]
	}
}

func nameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}

// statusSummary counts the groups by state, the outliers, and names the
// owners of the groups still waiting.
func statusSummary(b *strings.Builder, v ApprovalView, lines []*statusLine) {
	approved, lapsed, outliers := 0, 0, 0
	outlierHosts := map[string]bool{}
	for _, l := range lines {
		for i, g := range l.groups {
			if g.Approved {
				approved++
			}
			if len(g.Lapsed) > 0 {
				lapsed++
			}
			if l.outlier {
				outliers++
				for _, h := range l.hosts[i] {
					outlierHosts[h] = true
				}
			}
		}
	}
	total := len(v.Status.Groups)
	fmt.Fprintf(b, "\n**Summary:** %s", plural(total, "group", "groups"))
	if len(lines) != total {
		fmt.Fprintf(b, " in %s", plural(len(lines), "line", "lines"))
	}
	fmt.Fprintf(b, ": %s approved, %s pending", count(approved), count(total-approved))
	if lapsed > 0 {
		fmt.Fprintf(b, ", %s with lapsed approvals", count(lapsed))
	}
	if outliers > 0 {
		fmt.Fprintf(b, "; outliers: %s on %s change their resource unlike most of its hosts (shown first)",
			plural(outliers, "group", "groups"), plural(len(outlierHosts), "host", "hosts"))
	}
	b.WriteString(".")
	if who := pendingOwners(v, lines); who != "" {
		fmt.Fprintf(b, " Owners of the pending groups: %s (each line says who can approve it).", who)
	}
	b.WriteString("\n")
	for _, l := range lines {
		if len(l.groups) > 1 {
			fmt.Fprintf(b, "\nA line of several groups lists their ids below it: `approver approve %s --as <login>` approves every group, `--group <id>` (repeatable) only those named.\n", v.Commit.SHA)
			break
		}
	}
}

// maxNamed is how many owners the summary names before "and N more".
const maxNamed = 10

// pendingOwners names, once each and sorted, the owners of the file,
// module and node files of the groups not approved, but authors.
func pendingOwners(v ApprovalView, lines []*statusLine) string {
	authors := map[string]bool{}
	for _, a := range v.Status.Authors {
		authors[owners.Normalize(a)] = true
	}
	seen := map[string]bool{}
	var names []string
	add := func(o owners.Ownership) {
		for _, n := range o.Owners {
			if !seen[n] && !authors[owners.Normalize(n)] {
				seen[n] = true
				names = append(names, n)
			}
		}
	}
	for _, l := range lines {
		if l.approved() {
			continue
		}
		for _, g := range l.groups {
			add(g.Owners.File)
			add(g.Owners.Module)
			for _, n := range g.Owners.Nodes {
				add(n.Ownership)
			}
		}
	}
	sort.Strings(names)
	if len(names) > maxNamed {
		return strings.Join(names[:maxNamed], ", ") + fmt.Sprintf(" and %s more", count(len(names)-maxNamed))
	}
	return strings.Join(names, ", ")
}

// statusEntry renders one line: a group alone as it always was, several
// with their count, merged owners and, folded away, their ids and hosts.
func statusEntry(b *strings.Builder, l *statusLine) {
	g := l.groups[0]
	tag := ""
	switch {
	case l.outlier:
		tag = " — **outlier**: most of its hosts change it another way"
	case l.majority:
		tag = " — the majority: some hosts change it another way (listed first)"
	}
	var all []string
	for _, hs := range l.hosts {
		all = append(all, hs...)
	}
	sort.Strings(all)
	missing := g.Missing
	if len(l.groups) == 1 {
		fmt.Fprintf(b, "\n- group `%s`: %s on %s%s\n", g.ID, l.resource, CompressHosts(l.hosts[0]), tag)
		fmt.Fprintf(b, "  - owners: %s\n", ownersLine(g.Owners))
	} else {
		hosts := CompressHosts(all)
		if len(hosts) > hostsInline {
			hosts = plural(len(all), "host", "hosts")
		}
		fmt.Fprintf(b, "\n- %s: %s, one per variant, on %s%s\n", l.resource, plural(len(l.groups), "group", "groups"), hosts, tag)
		fmt.Fprintf(b, "  - owners: %s\n", ownersLine(mergedOwners(l.groups)))
		missing = missingOf(g, l.hosts[0])
		if strings.Contains(missing, fold.Certname) {
			missing += fmt.Sprintf(" (`%s`: each group's host)", fold.Certname)
		}
	}
	if g.Approved {
		fmt.Fprintf(b, "  - approved by %s (%s)\n", strings.Join(g.ApprovedBy, ", "), strings.Join(g.Via, ", "))
	} else {
		fmt.Fprintf(b, "  - missing: %s\n", missing)
	}
	if len(g.Lapsed) > 0 {
		fmt.Fprintf(b, "  - lapsed: %s (the change is no longer what they approved)\n", strings.Join(g.Lapsed, ", "))
	}
	if len(g.Excluded) > 0 {
		fmt.Fprintf(b, "  - not counted (author or co-author): %s\n", strings.Join(g.Excluded, ", "))
	}
	if len(l.groups) > 1 {
		fmt.Fprintf(b, "\n<details><summary>%s: group → hosts</summary>\n\n", plural(len(l.groups), "group", "groups"))
		for i, g := range l.groups {
			fmt.Fprintf(b, "- `%s` %s\n", g.ID, CompressHosts(l.hosts[i]))
		}
		b.WriteString("\n</details>\n")
	}
}

// mergedOwners is the owners of groups that differ only by the hosts of
// their node files: each node file once, with every host.
func mergedOwners(groups []owners.GroupStatus) owners.GroupOwners {
	o := groups[0].Owners
	o.Nodes = nil
	at := map[string]int{}
	for _, g := range groups {
		for _, n := range g.Owners.Nodes {
			k := fmt.Sprintf("%q %q", n.Path, n.Owners)
			i, ok := at[k]
			if !ok {
				i = len(o.Nodes)
				at[k] = i
				n.Hosts = nil
				o.Nodes = append(o.Nodes, n)
			}
			o.Nodes[i].Hosts = append(o.Nodes[i].Hosts, n.Hosts...)
		}
	}
	return o
}

// withdrawnLines renders the withdrawn changes: one line per group, or per
// resource with several, their ids folded away (they need no sign-off).
func withdrawnLines(b *strings.Builder, ws []ApprovalGroup) {
	byRes := map[string][]ApprovalGroup{}
	var order []string
	for _, g := range ws {
		if _, ok := byRes[g.Resource]; !ok {
			order = append(order, g.Resource)
		}
		byRes[g.Resource] = append(byRes[g.Resource], g)
	}
	for _, r := range order {
		gs := byRes[r]
		if len(gs) == 1 {
			fmt.Fprintf(b, "- group `%s`: %s on %s\n", gs[0].ID, r, CompressHosts(gs[0].Hosts))
			continue
		}
		var all []string
		for _, g := range gs {
			all = append(all, g.Hosts...)
		}
		sort.Strings(all)
		hosts := CompressHosts(all)
		if len(hosts) > hostsInline {
			hosts = plural(len(all), "host", "hosts")
		}
		fmt.Fprintf(b, "- %s: %s on %s\n\n<details><summary>%s: group → hosts</summary>\n\n", r, plural(len(gs), "group", "groups"), hosts, plural(len(gs), "group", "groups"))
		for _, g := range gs {
			fmt.Fprintf(b, "- `%s` %s\n", g.ID, CompressHosts(g.Hosts))
		}
		b.WriteString("\n</details>\n\n")
	}
}
