package committer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/rs/zerolog"

	"github.com/balcony-dev/balcony/pkg/nooper"
)

// Run works the triggers' queue until ctx ends, oldest first, one pass
// every Options.Retry or when a trigger arrives. A queued trigger is
// handed to the nooper: a noop trigger's commit event is published, a
// re-noop is asked of the nooper's renoop endpoint. A dispatched trigger
// is watched through the nooper's service until its noop is complete,
// then recorded ready with the review's summary. While a trigger of a
// commit is queued or dispatched, no later trigger of that commit is
// handed on, so two triggers of one commit noop one after the other, each
// result recorded before the next begins; and the nooper refuses a re-noop
// while a noop that uses the commit's reports runs, which leaves it
// queued until then. A trigger that cannot be handed on (the bus down) is
// tried again; one queued longer than QueueTimeout, or whose commit the
// nooper no longer knows, fails with the reason. Run returns nil when ctx
// ends.
func (t *Trigger) Run(ctx context.Context) error {
	tick := time.NewTicker(t.opts.Retry)
	defer tick.Stop()
	for {
		t.pass(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.wake:
		case <-tick.C:
		}
	}
}

// pass works every pending trigger once and drops those done.
func (t *Trigger) pass(ctx context.Context) {
	t.mu.Lock()
	ids := slices.Clone(t.pending)
	t.mu.Unlock()
	var done []string
	busy := map[string]bool{} // commits with an earlier trigger still pending
	for _, id := range ids {
		if ctx.Err() != nil {
			return
		}
		commit, off := t.work(ctx, id, busy)
		if off {
			done = append(done, id)
		} else if commit != "" {
			busy[commit] = true
		}
	}
	t.mu.Lock()
	t.pending = slices.DeleteFunc(t.pending, func(id string) bool { return slices.Contains(done, id) })
	t.mu.Unlock()
}

// workTimeout bounds one step of one trigger (a publish, a renoop request:
// the nooper forgets the commit's reports on every host first).
const workTimeout = time.Minute

// work takes trigger id one step: hands it on when it is queued and its
// commit is not busy, watches it when dispatched. It returns the
// trigger's commit and whether the trigger is off the queue (ready,
// failed or gone).
func (t *Trigger) work(ctx context.Context, id string, busy map[string]bool) (string, bool) {
	ctx, cancel := context.WithTimeout(ctx, workTimeout)
	defer cancel()
	log := t.log.With().Str("trigger", id).Logger()
	rec, rev, err := t.get(ctx, id)
	if errors.Is(err, ErrUnknownTrigger) {
		return "", true
	}
	if err != nil {
		log.Warn().Err(err).Msg("read pending trigger; trying again")
		return "", false
	}
	log = log.With().Str("kind", rec.Kind).Str("commit", rec.Commit).Logger()
	before := rec
	switch {
	case rec.State == TriggerQueued && !busy[rec.Commit]:
		t.dispatch(ctx, log, &rec)
	case rec.State == TriggerDispatched:
		if _, err := t.observe(ctx, &rec); err != nil {
			log.Warn().Err(err).Msg("ask the nooper about a trigger; trying again")
		}
	}
	off := rec.State == TriggerReady || rec.State == TriggerFailed
	if rec.State == before.State && rec.Reason == before.Reason {
		return rec.Commit, off // nothing new to record
	}
	if err := t.put(ctx, &rec, rev); err != nil {
		// Handed on but not recorded: handing it on again is harmless for
		// a commit event (the nooper finds it nooped); a re-noop asked
		// twice noops twice, once more than asked, never less.
		log.Warn().Err(err).Msg("could not record the trigger's state; trying again")
		return rec.Commit, false
	}
	if rec.State != before.State {
		t.metrics.states.WithLabelValues(rec.State).Inc()
		ev := log.Info()
		if rec.State == TriggerFailed {
			ev = log.Warn()
		}
		ev.Str("state", rec.State).Str("reason", rec.Reason).Msg("trigger")
	}
	return rec.Commit, off
}

// dispatch hands the queued rec to the nooper and updates it (not
// stored): dispatched, failed, or still queued with the reason.
func (t *Trigger) dispatch(ctx context.Context, log zerolog.Logger, rec *TriggerRecord) {
	var err error
	switch rec.Kind {
	case TriggerNoop:
		err = t.opts.Committer.PublishRevision(ctx, rec.Branch, rec.Commit)
	case TriggerRenoop:
		_, err = t.opts.Nooper.Renoop(ctx, rec.Commit)
	default:
		err = fmt.Errorf("%w: kind %q", ErrBadTrigger, rec.Kind)
	}
	switch {
	case err == nil:
		rec.State, rec.Reason, rec.Dispatched = TriggerDispatched, "handed to the nooper", t.opts.Now().UTC()
	case isUnknownCommit(err), errors.Is(err, ErrBadTrigger):
		rec.State, rec.Reason = TriggerFailed, err.Error()
	case t.opts.Now().Sub(rec.Created) > t.opts.QueueTimeout:
		rec.State, rec.Reason = TriggerFailed, fmt.Sprintf("still queued after %s: %v", t.opts.QueueTimeout, err)
	case errors.Is(err, nooper.ErrCollecting):
		rec.Reason = "waiting for a running noop: " + err.Error()
	default:
		log.Debug().Err(err).Msg("could not hand the trigger on; trying again")
		rec.Reason = "could not reach the nooper yet: " + err.Error()
	}
}
