package applier

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/hostinfo"
	"github.com/balcony-dev/balcony/pkg/nooper"
	"github.com/balcony-dev/balcony/pkg/protocol"
	"github.com/balcony-dev/balcony/pkg/reconcile"
	"github.com/balcony-dev/balcony/pkg/rollout"
	"github.com/balcony-dev/balcony/pkg/runs"
)

// onReport hands an apply report to the loop. It is acknowledged once the
// loop has recorded what it means (or found it answers nothing asked).
func (a *Applier) onReport(ctx context.Context, m jetstream.Msg) error {
	var res protocol.RunResult
	if err := bus.Unmarshal(m.Data(), &res); err != nil {
		return err
	}
	host, err := runs.CheckResult(protocol.KindApply, m.Subject(), &res)
	if err != nil {
		return err
	}
	_, err = a.submit(ctx, func(ctx context.Context) (any, error) {
		return nil, a.result(ctx, host, &res)
	})
	return err
}

// result records host's answer to its apply. Only the answer to the run
// the current rollout asked of host counts; anything else is rejected.
func (a *Applier) result(ctx context.Context, host string, res *protocol.RunResult) error {
	r := a.cur
	if r == nil {
		return fmt.Errorf("%w: apply report %q of %s answers no apply the applier asked", bus.ErrMalformed, res.RunID, host)
	}
	h := r.Progress.Host(host)
	if h.RunID != res.RunID || res.Revision != r.Target.SHA {
		return fmt.Errorf("%w: apply report %q of %s answers no apply of the current rollout", bus.ErrMalformed, res.RunID, host)
	}
	if h.State != rollout.Running {
		return nil // recorded already: a redelivery
	}
	a.asker.Answered(res.Outcome)
	state, why, detail, err := a.judge(ctx, r, host, res)
	if err != nil {
		return err
	}
	now := a.opts.Now().UTC()
	if err := r.Progress.Finish(&r.Plan, host, res.RunID, state, why, now); err != nil {
		return err
	}
	if r.Results == nil {
		r.Results = map[string]HostResult{}
	}
	r.Results[host] = detail
	if err := a.save(ctx, r); err != nil {
		return err
	}
	ev := a.log.Info()
	if state == rollout.Failed {
		ev = a.log.Warn()
	}
	ev.Str("host", host).Str("state", string(state)).Str("reason", why).Float64("puppet_seconds", res.PuppetSeconds).Msg("apply ended")
	a.announceHost(ctx, r, host, string(state), why)
	return a.step(ctx)
}

// judge decides what host's answer means: a skip, a failure, or an apply
// that reconciliation accepts. An apply Puppet completed records the
// host's new last applied revision, whatever reconciliation says: the
// host is at the target now.
func (a *Applier) judge(ctx context.Context, r *Rollout, host string, res *protocol.RunResult) (rollout.HostState, string, HostResult, error) {
	detail := HostResult{Outcome: res.Outcome, PuppetSeconds: res.PuppetSeconds}
	reason := ""
	if res.Report != nil {
		reason = strings.Join(res.Report.Errors, "; ")
	}
	switch res.Outcome {
	case protocol.OutcomeSkipped:
		return rollout.Skipped, reason, detail, nil
	case protocol.OutcomeExpired:
		return rollout.Failed, "the run's deadline passed before the host ran it", detail, nil
	case protocol.OutcomeRefused:
		return rollout.Failed, "the agent refused the apply: " + reason, detail, nil
	case protocol.OutcomeDone:
	default:
		return rollout.Failed, "the apply failed: " + reason, detail, nil
	}
	before, err := hostinfo.Get(ctx, a.hosts, host)
	if err != nil {
		return "", "", detail, err
	}
	// The reviewed noop is read before the apply is recorded: once it is,
	// the nooper noops the host again and replaces it.
	reviewed, err := a.opts.Noops.Report(ctx, r.Target.SHA, host)
	missingNoop := errors.Is(err, nooper.ErrNoReport) || errors.Is(err, nooper.ErrUnknownCommit)
	if err != nil && !missingNoop {
		return "", "", detail, fmt.Errorf("the noop of %s on %s: %w", protocol.Short(r.Target.SHA), host, err)
	}
	if !res.Report.Failed {
		if err := a.recordApplied(ctx, host, r.Target.SHA, res.RunID); err != nil {
			return "", "", detail, err
		}
	}
	switch {
	case missingNoop:
		return rollout.Failed, fmt.Sprintf("no noop of %s on the host to reconcile the apply with", protocol.Short(r.Target.SHA)), detail, nil
	case before == nil || before.AppliedAt.IsZero():
	case before.AppliedRun == res.RunID && reviewed.FinishedAt.After(before.AppliedAt):
		// Recorded by an applier that stopped before reconciling: the
		// noop read now is the one taken after this very apply.
		return rollout.Failed, fmt.Sprintf("the apply was recorded but not reconciled before a restart, and its reviewed noop of %s has since been replaced: check the host's report", protocol.Short(r.Target.SHA)), detail, nil
	case before.AppliedRun != res.RunID && reviewed.FinishedAt.Before(before.AppliedAt):
		return rollout.Failed, fmt.Sprintf("its noop of %s (%s) predates its previous apply (%s): what was reviewed is not what the host had", protocol.Short(r.Target.SHA), reviewed.FinishedAt.Format("2006-01-02 15:04:05"), before.AppliedAt.Format("2006-01-02 15:04:05")), detail, nil
	}
	rec := reconcile.Compare(reviewed.Report, res.Report, reconcile.Options{Ignored: a.ignore})
	detail.Missing = rec.MissingNote()
	if !rec.OK() {
		return rollout.Failed, rec.Reason(), detail, nil
	}
	return rollout.Done, detail.Missing, detail, nil
}

// recordApplied sets host's last applied revision, with compare-and-set:
// the heartbeat never undoes it, and it never undoes a heartbeat.
func (a *Applier) recordApplied(ctx context.Context, host, rev, run string) error {
	now := a.opts.Now().UTC()
	_, err := hostinfo.Update(ctx, a.hosts, host, func(info *protocol.HostInfo, _ bool) error {
		if info.AppliedRun == run && info.LastApplied == rev {
			return nil // recorded already (a redelivery)
		}
		info.LastApplied, info.AppliedAt, info.AppliedRun = rev, now, run
		return nil
	})
	if err != nil {
		return fmt.Errorf("record %s's apply of %s: %w", host, protocol.Short(rev), err)
	}
	return nil
}
