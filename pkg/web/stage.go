package web

import (
	"fmt"
	"strings"

	"github.com/balcony-dev/balcony/pkg/applier"
	"github.com/balcony-dev/balcony/pkg/approver"
	"github.com/balcony-dev/balcony/pkg/nooper"
	"github.com/balcony-dev/balcony/pkg/protocol"
	"github.com/balcony-dev/balcony/pkg/rollout"
)

// Stage is where a commit is, across noop, approval and apply: Key is
// stable (a CSS class and the data-stage attribute tests and scripts
// read), Label the words shown, Detail the why.
type Stage struct {
	Key    string
	Label  string
	Detail string
}

// The stage keys, in the order a commit goes through them.
const (
	StageNooping       = "nooping"
	StageNeedsApproval = "needs-approval"
	StageHeld          = "held"
	StageApproved      = "approved"
	StageApplying      = "applying"
	StageApplied       = "applied"
	StageHalted        = "halted"
	StageCancelled     = "cancelled"
)

// commitStage is a commit's stage from its noop summary, its approval
// state (nil when the approver has none yet), the applier's status (nil
// when the applier did not answer) and whether the last rollout's hosts
// had all applied it before that rollout began (appliedEarlier).
func commitStage(s nooper.CommitSummary, ap *approver.StatusReply, st *applier.StatusReply, earlier bool) Stage {
	if s.State != nooper.StateReady {
		detail := fmt.Sprintf("%s to answer", count(s.Hosts, "host"))
		if p := s.Progress; p != nil {
			detail = fmt.Sprintf("%d of %d hosts answered", p.Answered, p.Hosts)
		}
		return Stage{Key: StageNooping, Label: "nooping", Detail: detail}
	}
	switch {
	case earlier && st != nil && st.Rollout != nil: // appliedEarlier knows it from them
		// What the fleet runs, whatever became of its approval since (a
		// re-noop may have let it lapse).
		return Stage{Key: StageApplied, Label: "applied", Detail: "before the rollout of " + protocol.Short(st.Rollout.Target.SHA)}
	case ap == nil:
		return Stage{Key: StageNeedsApproval, Label: "ready", Detail: "approval not evaluated yet"}
	case ap.Approved:
		return applyStage(s.Commit.SHA, st)
	case len(ap.Status.HeldBack) > 0:
		return Stage{Key: StageHeld, Label: "ready · held back", Detail: ap.Status.HeldBack[0]}
	}
	n, missing := ap.Unapproved()
	detail := fmt.Sprintf("%d of %s to sign off", n, count(len(ap.Status.Groups), "change group"))
	if missing != "" {
		detail += ": " + missing
	}
	return Stage{Key: StageNeedsApproval, Label: "ready · needs approval", Detail: detail}
}

// appliedEarlier is the set of commits of cs that every host of the last
// rollout had applied before it began: its base (the oldest last applied
// revision of its hosts) and the first-parent chain below it, as far as
// cs (the nooper's commits, each with its first parent) reaches. The
// applier's status names only the last rollout's commits: without this,
// every commit an older rollout applied would read "approved".
func appliedEarlier(cs []nooper.CommitSummary, st *applier.StatusReply) map[string]bool {
	if st == nil || st.Rollout == nil || st.Rollout.Base == "" {
		return nil
	}
	parent := make(map[string]string, len(cs))
	for _, c := range cs {
		parent[c.Commit.SHA] = c.Parent
	}
	out := map[string]bool{}
	for sha := st.Rollout.Base; sha != "" && !out[sha]; sha = parent[sha] {
		if _, listed := parent[sha]; !listed {
			break
		}
		out[sha] = true
	}
	return out
}

// applyStage is an approved commit's stage: its rollout's, when the
// current rollout applies it.
func applyStage(sha string, st *applier.StatusReply) Stage {
	approved := Stage{Key: StageApproved, Label: "approved"}
	if st == nil || st.Rollout == nil || !st.Rollout.Applies(sha) {
		if st != nil && st.Blocked != "" {
			approved.Detail = "not applied: " + st.Blocked
		}
		return approved
	}
	r := st.Rollout
	switch {
	case r.State == applier.StateCancelled:
		return Stage{Key: StageCancelled, Label: "approved · rollout cancelled", Detail: "by " + r.CancelledBy}
	case r.Progress.Halted != nil:
		h := r.Progress.Halted
		return Stage{Key: StageHalted, Label: "halted", Detail: strings.TrimSpace(h.Set + ": " + h.Reason)}
	case st.Step != nil && st.Step.Kind == rollout.StepComplete:
		return Stage{Key: StageApplied, Label: "applied", Detail: countsText(st.Step.Counts)}
	}
	s := Stage{Key: StageApplying, Label: "applying"}
	if st.Step != nil {
		if st.Step.Set != "" {
			s.Label += " set " + st.Step.Set
		}
		s.Detail = countsText(st.Step.Counts)
	}
	return s
}

func countsText(c rollout.Counts) string {
	return fmt.Sprintf("done %d, failed %d, skipped %d, running %d, pending %d", c.Done, c.Failed, c.Skipped, c.Running, c.Pending)
}

func count(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// HostColour is the state a host is drawn in on the fleet grid, worst
// first: the first that holds.
func hostColour(h nooper.HostSummary, locked bool, failedInRollout bool) (key, label string) {
	switch {
	case h.Silent:
		return "silent", "silent"
	case h.Failed != "" || failedInRollout:
		return "failed", "failed"
	case locked || h.PuppetDisabled != "":
		return "locked", "locked"
	case h.PendingGroups > 0:
		return "pending", "pending changes"
	}
	return "current", "up to date"
}
