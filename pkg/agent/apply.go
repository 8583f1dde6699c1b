package agent

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/balcony-dev/balcony/pkg/gitrepo"
	"github.com/balcony-dev/balcony/pkg/hostinfo"
	"github.com/balcony-dev/balcony/pkg/protocol"
	"github.com/balcony-dev/balcony/pkg/puppet"
	"github.com/balcony-dev/balcony/pkg/report"
)

// CommitReader reads a commit of the agent's own copy of the code: its
// full sha and its parents, first parent first. An unknown revision wraps
// gitrepo.ErrUnknownRevision. gitrepo's Repo is one.
type CommitReader interface {
	Commit(rev string) (protocol.Commit, error)
}

// Approval is what the approver says of one commit.
type Approval struct {
	// SHA is the commit the approver answered for.
	SHA string
	// Ready is false while the commit's noop has not finished.
	Ready    bool
	Approved bool
	// Groups maps each change group of the commit to its digest.
	Groups map[string]string
	// HeldBack are the approver's reasons the commit is not approved
	// whatever its groups.
	HeldBack []string
}

// Approvals asks the approver what it says of a commit. cmd/agent wires it
// to the approver's status service (balcony.approver.status): the approvals
// bucket is the approver's own.
type Approvals interface {
	Approval(ctx context.Context, sha string) (*Approval, error)
}

// approvalTimeout bounds one question to the approver; a run's deadline,
// when sooner, bounds them all.
const approvalTimeout = 30 * time.Second

// The reason of a refused apply of a host that has no last applied
// revision: the applier never asks one, an operator must record it first.
const noBaseline = "no baseline recorded: run `applier baseline`"

// refusal is why an apply is refused; its text is the report's error.
type refusal struct{ reason string }

func (r *refusal) Error() string { return r.reason }

func refuse(format string, args ...any) *refusal {
	return &refusal{reason: fmt.Sprintf(format, args...)}
}

// skipReason says why this host does not apply now, empty when it may: its
// own Puppet is disabled (puppet agent --disable) or running. An apply
// does not wait for the puppet agent's run, as a noop does: the applier
// moves on and the host is skipped with this reason.
func (a *Agent) skipReason() string {
	if path := a.opts.PuppetDisabledLock; path != "" {
		msg, disabled, err := puppet.Disabled(path)
		if err != nil {
			return "cannot tell whether puppet is disabled on this host: " + err.Error()
		}
		if disabled {
			return "puppet is disabled on this host: " + msg
		}
	}
	if path := a.opts.PuppetRunLock; path != "" {
		if pid, held := puppet.LockHolder(path); held {
			return fmt.Sprintf("puppet is running (pid %d)", pid)
		}
	}
	return ""
}

// verifyApply checks, before anything is applied, that req applies exactly
// the first-parent chain from this host's last applied revision to
// req.Revision, and that the approver still says every commit of it is
// approved for the very group digests the applier saw. A nil error means
// the apply may run; a *refusal says why not; any other error is ctx's.
func (a *Agent) verifyApply(ctx context.Context, req protocol.RunRequest) error {
	if err := a.verifyRange(ctx, req); err != nil {
		return err
	}
	return a.verifyApprovals(ctx, req)
}

func (a *Agent) verifyRange(ctx context.Context, req protocol.RunRequest) error {
	if len(req.Approved) == 0 {
		return refuse("the apply of %s names no approved commits", req.Revision)
	}
	if last := req.Approved[len(req.Approved)-1].SHA; last != req.Revision {
		return refuse("the apply's approved commits end at %s, not at its revision %s", last, req.Revision)
	}
	info, err := hostinfo.Get(ctx, a.hosts, a.opts.Host)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return refuse("could not read this host's last applied revision: %v", err)
	}
	if info == nil || info.LastApplied == "" {
		return refuse(noBaseline)
	}
	if req.From != info.LastApplied {
		return refuse("the apply starts from %q but this host's last applied revision is %s", req.From, info.LastApplied)
	}
	if a.opts.Commits == nil {
		return refuse("this agent has no copy of the code to verify the range with")
	}
	fetched := false
	parent := req.From
	for _, ac := range req.Approved {
		c, err := a.opts.Commits.Commit(ac.SHA)
		if errors.Is(err, gitrepo.ErrUnknownRevision) && !fetched && a.opts.Code != nil {
			// Pushed after the last prefetch: fetch once, for the whole
			// range (its newest commit brings the ones before it).
			fetched = true
			if ferr := a.opts.Code.Update(ctx, req.Revision); ferr != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return refuse("commit %s is not in this host's copy of the code, and fetching failed: %v", ac.SHA, ferr)
			}
			a.logRepairs()
			c, err = a.opts.Commits.Commit(ac.SHA)
		}
		if err != nil {
			return refuse("commit %s cannot be verified in this host's copy of the code: %v", ac.SHA, err)
		}
		if c.SHA != ac.SHA {
			return refuse("the apply names commit %q, which is not a full sha (it is %s)", ac.SHA, c.SHA)
		}
		if len(c.Parents) == 0 || c.Parents[0] != parent {
			first := "none"
			if len(c.Parents) > 0 {
				first = c.Parents[0]
			}
			return refuse("the range is not the first-parent chain from %s to %s: the first parent of %s is %s, not %s",
				req.From, req.Revision, ac.SHA, first, parent)
		}
		parent = ac.SHA
	}
	return nil
}

func (a *Agent) verifyApprovals(ctx context.Context, req protocol.RunRequest) error {
	if a.opts.Approvals == nil {
		return refuse("could not confirm the approvals: this agent has no way to ask the approver")
	}
	if !req.Deadline.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, req.Deadline)
		defer cancel()
	}
	for _, ac := range req.Approved {
		actx, cancel := context.WithTimeout(ctx, approvalTimeout)
		ap, err := a.opts.Approvals.Approval(actx, ac.SHA)
		cancel()
		if err != nil {
			if errors.Is(context.Cause(ctx), context.Canceled) {
				return ctx.Err() // shutdown, not the approver's fault
			}
			return refuse("could not confirm the approvals: commit %s: %v", protocol.Short(ac.SHA), err)
		}
		if why := approvalDiffers(ac, ap); why != "" {
			return refuse("commit %s is not approved as the apply says: %s", protocol.Short(ac.SHA), why)
		}
	}
	return nil
}

// approvalDiffers says how what the approver says of a commit differs from
// what the apply carries; empty when it does not.
func approvalDiffers(want protocol.ApprovedCommit, got *Approval) string {
	switch {
	case got == nil:
		return "the approver gave no answer"
	case got.SHA != want.SHA:
		return fmt.Sprintf("the approver answered for %s", got.SHA)
	case !got.Ready:
		return "its noop has not finished"
	case !got.Approved:
		if len(got.HeldBack) > 0 {
			return "the approver does not show it approved: " + strings.Join(got.HeldBack, "; ")
		}
		return "the approver does not show it approved"
	}
	var diffs []string
	for _, id := range slices.Sorted(maps.Keys(got.Groups)) {
		d, ok := want.Groups[id]
		switch {
		case !ok:
			diffs = append(diffs, fmt.Sprintf("group %s is not in the apply", id))
		case d != got.Groups[id]:
			diffs = append(diffs, fmt.Sprintf("group %s has digest %s in the apply but %s at the approver", id, d, got.Groups[id]))
		}
	}
	for _, id := range slices.Sorted(maps.Keys(want.Groups)) {
		if _, ok := got.Groups[id]; !ok {
			diffs = append(diffs, fmt.Sprintf("group %s is not a group of the commit at the approver", id))
		}
	}
	return strings.Join(diffs, "; ")
}

// apply handles an apply run that has not expired: skipped, refused or
// run for real. It is false only when ctx was cancelled.
func (a *Agent) apply(ctx context.Context, req protocol.RunRequest, log zerolog.Logger) (*protocol.RunResult, bool) {
	if why := a.skipReason(); why != "" {
		log.Info().Str("reason", why).Msg("apply skipped")
		return a.result(req, protocol.OutcomeSkipped, report.Failure(a.opts.Host, why)), true
	}
	err := a.verifyApply(ctx, req)
	var refused *refusal
	switch {
	case errors.As(err, &refused):
		log.Warn().Str("from", req.From).Str("reason", refused.reason).Msg("apply refused")
		a.announceRefusal(ctx, req, refused.reason)
		return a.result(req, protocol.OutcomeRefused, report.Failure(a.opts.Host, refused.reason)), true
	case err != nil:
		log.Info().Msg("apply interrupted by shutdown while it was verified; it runs again at the next start")
		return nil, false
	}
	log.Info().Str("from", req.From).Int("commits", len(req.Approved)).Msg("apply verified: its range and approvals")
	return a.runPuppet(ctx, req, log)
}

// announceRefusal says on balcony.event.run.refused.<host> that the agent
// refused an apply, and why.
func (a *Agent) announceRefusal(ctx context.Context, req protocol.RunRequest, reason string) {
	ev := protocol.Event{
		Type: "run.refused", Host: a.opts.Host, Commit: req.Revision, Service: "agent",
		Text: fmt.Sprintf("%s refused to apply %s: %s", a.opts.Host, protocol.Short(req.Revision), oneLine(reason)),
		Data: map[string]any{"run_id": req.ID, "from": req.From, "reason": reason},
	}
	if err := a.conn.Announce(context.WithoutCancel(ctx), "refused:"+req.ID, ev); err != nil {
		a.log.Warn().Err(err).Str("run", req.ID).Msg("announce a refused apply")
	}
}

// oneLine keeps an event's text on one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
