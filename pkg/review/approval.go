package review

import (
	"fmt"
	"strings"

	"github.com/balcony-dev/balcony/pkg/delta"
	"github.com/balcony-dev/balcony/pkg/owners"
	"github.com/balcony-dev/balcony/pkg/protocol"
)

// ApprovalView is what the approval status of a commit shows: the commit,
// its change groups, and their evaluation.
type ApprovalView struct {
	Commit protocol.Commit
	// Ready is false while the commit's noop has not finished.
	Ready  bool
	Groups []ApprovalGroup
	// Changes are the commit's change groups in full, when the caller has
	// them (the approver's GitHub sync does): groups are then folded as the
	// review folds them (docs/review.md, "Approval status"). Without them
	// (`approver status`, whose reply carries no content) each group is
	// shown on its own.
	Changes []delta.Group
	// Withdrawn are the changes pending in the parent's noop that the
	// commit's noop no longer shows; they need no sign-off.
	Withdrawn []ApprovalGroup
	Status    owners.Status
	Approvals []owners.Approval
	// Warnings are about where owners were read from (no node statement
	// found, environment.conf problems); they come first.
	Warnings []string
}

// WithdrawnNeedsNoSignOff says why a withdrawn change needs no sign-off.
const WithdrawnNeedsNoSignOff = "each was pending in the parent's noop and is gone from this commit's, " +
	"so applying this commit leaves that resource as it is on its hosts: nothing to sign off"

// ApprovalGroup names a change group.
type ApprovalGroup struct {
	ID       string
	Resource string
	Hosts    []string
}

// ApprovalMarkdown renders the approval status of a commit: a summary (how
// many groups are approved and pending, who owns those still waiting), then
// its groups, pending before approved and outliers first, each with its
// owners, who approved it and through which rule, or what is missing (the
// groups of one fold with the same owners and state on one line, their ids
// under it); then every approval recorded. It reads as plain text in a
// terminal and as markdown on GitHub.
func ApprovalMarkdown(v ApprovalView) string {
	var b strings.Builder
	verdict := "NOT APPROVED"
	switch {
	case !v.Ready:
		verdict = "waiting for its noop to finish"
	case v.Status.Approved:
		verdict = "APPROVED"
	}
	fmt.Fprintf(&b, "%s %q by %s: **%s**\n", short(v.Commit.SHA), v.Commit.Subject, v.Commit.Author, verdict)
	for _, w := range v.Warnings {
		fmt.Fprintf(&b, "\n**Warning:** %s\n", w)
	}
	if v.Ready && len(v.Status.Groups) == 0 {
		switch {
		case !v.Status.Approved:
			// Held back: what it does on some hosts was never seen.
			b.WriteString("\nNo change groups to sign off, but the commit is not approved yet: see why below.\n")
		case len(v.Withdrawn) > 0:
			b.WriteString("\nNo changes to sign off, only withdrawn ones: the commit is approved by itself.\n")
		default:
			b.WriteString("\nNo changes: the commit is approved by itself.\n")
		}
	}
	lines := statusLines(v)
	if len(lines) > 0 {
		statusSummary(&b, v, lines)
	}
	for _, l := range lines {
		statusEntry(&b, l)
	}
	if len(v.Withdrawn) > 0 {
		fmt.Fprintf(&b, "\nWithdrawn changes (%s):\n", WithdrawnNeedsNoSignOff)
		withdrawnLines(&b, v.Withdrawn)
	}
	if len(v.Status.HeldBack) > 0 {
		b.WriteString("\nNot approved, whatever the owners say:\n")
		for _, why := range v.Status.HeldBack {
			fmt.Fprintf(&b, "- %s\n", why)
		}
	}
	if len(v.Approvals) > 0 {
		b.WriteString("\nApprovals:\n")
		for _, ap := range v.Approvals {
			fmt.Fprintf(&b, "- %s via %s at %s (%d groups)\n", ap.By, ap.Source, ap.At.UTC().Format("2006-01-02 15:04:05Z"), len(ap.Groups))
		}
	}
	for _, p := range v.Status.Problems {
		fmt.Fprintf(&b, "\nProblem: %s\n", p)
	}
	return b.String()
}

// ownersLine names each owner and where it came from: "file", "module
// (by source file)", "module (by containment path "Motd")", "node file".
func ownersLine(o owners.GroupOwners) string {
	var parts []string
	add := func(kind string, ow owners.Ownership) {
		if ow.Path == "" {
			return
		}
		who := "nobody"
		if len(ow.Owners) > 0 {
			who = strings.Join(ow.Owners, ", ")
		}
		where := ow.Path
		switch {
		case kind != "module":
		case ow.From == owners.FromContainment:
			where += fmt.Sprintf(" (by containment path %q)", ow.Container)
		case ow.From == owners.FromSourceFile:
			where += " (by source file)"
		}
		parts = append(parts, fmt.Sprintf("%s %s: %s", kind, where, who))
	}
	add("file", o.File)
	add("module", o.Module)
	for _, n := range o.Nodes {
		add("node file", n.Ownership)
	}
	return strings.Join(parts, "; ")
}
