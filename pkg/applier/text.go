package applier

import (
	"fmt"
	"sort"
	"strings"

	"github.com/balcony-dev/balcony/pkg/protocol"
	"github.com/balcony-dev/balcony/pkg/rollout"
)

// StatusText renders a status reply for a terminal.
func StatusText(st *StatusReply) string {
	var b strings.Builder
	r := st.Rollout
	if r == nil {
		b.WriteString("no rollout yet")
		if st.Blocked != "" {
			b.WriteString(": " + st.Blocked)
		}
		b.WriteString("\n")
	} else {
		fmt.Fprintf(&b, "rollout %s of %s %q (%d commits), started %s\n", r.ID, protocol.Short(r.Target.SHA), r.Target.Subject, len(r.Range), r.Created.Format("2006-01-02 15:04:05 MST"))
		if st.Step != nil {
			fmt.Fprintf(&b, "now: %s\n", stepLine(r, st.Step))
		}
		for i, s := range st.Stages {
			fmt.Fprintf(&b, "  %d. %-12s %s\n", i+1, s.Set, s.Counts)
			hosts := r.Plan.Stages[i].Hosts()
			for _, h := range hosts {
				p := r.Progress.Host(h)
				if p.State == rollout.Pending {
					continue
				}
				line := fmt.Sprintf("       %-8s %s", p.State, h)
				if p.Reason != "" {
					line += ": " + p.Reason
				}
				b.WriteString(line + "\n")
			}
		}
		if len(r.NotPlanned) > 0 {
			fmt.Fprintf(&b, "not in this rollout (%d):\n", len(r.NotPlanned))
			b.WriteString(reasons(r.NotPlanned))
		}
		if r.Over() && st.Blocked != "" {
			fmt.Fprintf(&b, "next: %s\n", st.Blocked)
		}
	}
	if len(st.Locks) > 0 {
		b.WriteString("locked hosts:\n")
		for _, l := range st.Locks {
			fmt.Fprintf(&b, "  %s by %s at %s: %s\n", l.Host, l.By, l.At.Format("2006-01-02 15:04"), l.Reason)
		}
	}
	return b.String()
}

func stepLine(r *Rollout, st *rollout.Step) string {
	switch {
	case r.State == StateCancelled:
		return "cancelled by " + r.CancelledBy
	case st.Kind == rollout.StepHalted && st.Halt != nil:
		return "halted: " + st.Halt.Reason + " (resume with `applier resume`)"
	case st.Kind == rollout.StepPromote:
		return fmt.Sprintf("set %s is done; waiting for `applier promote`", st.Set)
	case st.Kind == rollout.StepSoak:
		return fmt.Sprintf("set %s is done; soaking until %s", st.Set, st.Until.Format("15:04:05"))
	case st.Kind == rollout.StepComplete:
		return "complete"
	}
	return fmt.Sprintf("applying set %s, batch %d of %d (%s)", st.Set, st.Batch, st.Batches, st.Counts)
}

func reasons(m map[string]string) string {
	hosts := make([]string, 0, len(m))
	for h := range m {
		hosts = append(hosts, h)
	}
	sort.Strings(hosts)
	var b strings.Builder
	for _, h := range hosts {
		fmt.Fprintf(&b, "  %s: %s\n", h, m[h])
	}
	return b.String()
}

// PlanText renders a plan reply for a terminal.
func PlanText(p *PlanReply) string {
	var b strings.Builder
	b.WriteString(strings.TrimRight(p.Text, "\n") + "\n")
	if len(p.NotPlanned) > 0 {
		fmt.Fprintf(&b, "not applied (%d):\n", len(p.NotPlanned))
		b.WriteString(reasons(p.NotPlanned))
	}
	return b.String()
}
