package chatbridge

import (
	"fmt"
	"sort"
	"strings"

	"github.com/balcony-dev/balcony/pkg/applier"
	"github.com/balcony-dev/balcony/pkg/approver"
	"github.com/balcony-dev/balcony/pkg/protocol"
	"github.com/balcony-dev/balcony/pkg/review"
	"github.com/balcony-dev/balcony/pkg/rollout"
)

// The answers to status and show, from the services' replies: pure
// functions, tested without a bus.

// head is a commit's short sha and quoted subject.
func head(c protocol.Commit) string {
	return fmt.Sprintf("%s %q", protocol.Short(c.SHA), c.Subject)
}

// showLine summarizes a noop and points to the whole review.
func showLine(doc review.Document) string {
	s := head(doc.Commit)
	if doc.Commit.Author != "" {
		s += " by " + doc.Commit.Author
	}
	s += ": " + noopStage(doc)
	if doc.Result != nil && len(doc.Result.Groups) > 0 {
		var res []string
		for _, g := range doc.Result.Groups {
			res = append(res, g.Resource.ID)
		}
		s += " · changes: " + listOf(res, 3)
	}
	return s + " · the whole review: nooper show " + protocol.Short(doc.Commit.SHA) + ", approver status " + protocol.Short(doc.Commit.SHA)
}

// noopStage says where a commit's noop is, and why it failed if it did.
func noopStage(doc review.Document) string {
	switch {
	case !doc.Complete && doc.Progress != nil:
		return "noop running (" + doc.Progress.String() + ")"
	case !doc.Complete:
		return "noop running"
	case doc.Result == nil:
		return "noop ready (no result)"
	}
	r := doc.Result
	if len(r.Errors) > 0 {
		var hosts []string
		for _, e := range r.Errors {
			hosts = append(hosts, e.Hosts...)
		}
		return fmt.Sprintf("noop FAILED on %s: %s", listOf(hosts, 5), firstLine(r.Errors[0].Message))
	}
	s := fmt.Sprintf("noop ready (%s on %s)", count(len(r.Groups), "change group"), count(len(r.Hosts), "host"))
	if len(r.Unanswered) > 0 {
		s += ", no answer from " + listOf(r.Unanswered, 5)
	}
	return s
}

// commitLine is status <sha>: the noop's stage, then the approval's,
// then the apply's, as far as the commit got.
func commitLine(doc review.Document, ap *approver.StatusReply, st *applier.StatusReply) string {
	parts := []string{noopStage(doc)}
	switch {
	case !doc.Complete:
	case ap == nil:
		parts = append(parts, "approval: not evaluated yet")
	case ap.Approved:
		parts = append(parts, "approved")
	case len(ap.Status.HeldBack) > 0:
		parts = append(parts, "approval HELD BACK: "+ap.Status.HeldBack[0])
	default:
		n, missing := ap.Unapproved()
		p := fmt.Sprintf("needs approval: %d of %s", n, count(len(ap.Status.Groups), "change group"))
		if missing != "" {
			p += " (" + missing + ")"
		}
		parts = append(parts, p)
	}
	if ap != nil && ap.Approved {
		parts = append(parts, applyStage(doc.Commit.SHA, st))
	}
	return head(doc.Commit) + ": " + strings.Join(parts, " → ")
}

// applyStage says where sha's apply is: the rollout that applies it, or
// not started.
func applyStage(sha string, st *applier.StatusReply) string {
	if st == nil {
		return "apply: unknown (the applier does not answer)"
	}
	r := st.Rollout
	if r == nil || !r.Applies(sha) {
		if st.Blocked != "" {
			return "apply: not started (" + st.Blocked + ")"
		}
		return "apply: not started"
	}
	return "apply: " + rolloutState(st)
}

// rolloutState is a rollout's step, counts and halt reason.
func rolloutState(st *applier.StatusReply) string {
	r := st.Rollout
	kind := "running"
	if st.Step != nil {
		kind = string(st.Step.Kind)
	}
	if r.State == applier.StateCancelled {
		kind = "cancelled"
	}
	s := kind
	if st.Step != nil && st.Step.Set != "" && kind != string(rollout.StepComplete) {
		s += " at set " + st.Step.Set
	}
	if st.Step != nil {
		c := st.Step.Counts
		s += fmt.Sprintf(" (done %d, failed %d, skipped %d, running %d, pending %d)", c.Done, c.Failed, c.Skipped, c.Running, c.Pending)
	}
	if h := r.Progress.Halted; h != nil {
		s += fmt.Sprintf("; HALTED at set %s: %s", h.Set, h.Reason)
	}
	return s
}

// rolloutLine is status rollout.
func rolloutLine(st *applier.StatusReply) string {
	if st.Rollout == nil {
		if st.Blocked != "" {
			return "no rollout: " + st.Blocked
		}
		return "no rollout yet"
	}
	return fmt.Sprintf("rollout %s of %s: %s", st.Rollout.ID, head(st.Rollout.Target), rolloutState(st))
}

// hostLine is status <host>: its state in the current rollout, and its
// lock.
func hostLine(st *applier.StatusReply, host string) string {
	var parts []string
	for _, l := range st.Locks {
		if l.Host == host {
			parts = append(parts, fmt.Sprintf("LOCKED by %s: %s", l.By, l.Reason))
		}
	}
	r := st.Rollout
	switch {
	case r == nil:
		parts = append(parts, "no rollout yet")
	case r.NotPlanned[host] != "":
		parts = append(parts, fmt.Sprintf("not in the rollout of %s: %s", head(r.Target), r.NotPlanned[host]))
	case !planned(&r.Plan, host):
		parts = append(parts, fmt.Sprintf("not in the rollout of %s", head(r.Target)))
	default:
		h := r.Progress.Host(host)
		p := fmt.Sprintf("%s in the rollout of %s, set %s", strings.ToUpper(string(h.State)), head(r.Target), setOf(&r.Plan, host))
		if h.Reason != "" {
			p += ": " + h.Reason
		}
		parts = append(parts, p)
	}
	return host + ": " + strings.Join(parts, "; ")
}

func planned(p *rollout.Plan, host string) bool { return setOf(p, host) != "" }

func setOf(p *rollout.Plan, host string) string {
	for _, s := range p.Stages {
		for _, b := range s.Batches {
			for _, h := range b {
				if h == host {
					return s.Set
				}
			}
		}
	}
	return ""
}

func listOf(xs []string, max int) string {
	xs = append([]string(nil), xs...)
	sort.Strings(xs)
	xs = compact(xs)
	if len(xs) > max {
		return strings.Join(xs[:max], ", ") + fmt.Sprintf(" and %d more", len(xs)-max)
	}
	return strings.Join(xs, ", ")
}

func compact(xs []string) []string {
	out := xs[:0]
	for i, x := range xs {
		if i == 0 || x != xs[i-1] {
			out = append(out, x)
		}
	}
	return out
}

func count(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}
