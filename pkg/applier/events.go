package applier

import (
	"context"
	"fmt"

	"github.com/balcony-dev/balcony/pkg/protocol"
	"github.com/balcony-dev/balcony/pkg/rollout"
)

// announce publishes balcony.event.apply.<what> once per rollout and key:
// the rollout records what it announced, and the message id keeps a
// restart's repeat out of EVENTS.
func (a *Applier) announce(ctx context.Context, r *Rollout, what, key string, ev protocol.Event) {
	id := "apply." + what + ":" + r.ID
	if key != "" {
		id += ":" + key
	}
	if r.Announced[id] {
		return
	}
	ev.Type = "apply." + what
	ev.Service = "applier"
	ev.Commit = r.Target.SHA
	if ev.Data == nil {
		ev.Data = map[string]any{}
	}
	ev.Data["rollout"] = r.ID
	if err := a.conn.Announce(ctx, id, ev); err != nil {
		a.log.Warn().Err(err).Str("event", ev.Type).Msg("announce")
		return
	}
	if r.Announced == nil {
		r.Announced = map[string]bool{}
	}
	r.Announced[id] = true
	a.metrics.announced(what, r, a.opts.Now())
}

// announceHost announces a host's end: done, failed or skipped.
func (a *Applier) announceHost(ctx context.Context, r *Rollout, host, state, why string) {
	text := fmt.Sprintf("%s %s %s", host, map[string]string{"done": "applied", "failed": "failed to apply", "skipped": "skipped"}[state], protocol.Short(r.Target.SHA))
	if why != "" {
		text += ": " + why
	}
	h := r.Progress.Host(host)
	a.announce(ctx, r, "host."+state, host+":"+h.RunID+":"+state, protocol.Event{
		Host: host, Text: text,
		Data: map[string]any{"run_id": h.RunID, "reason": why, "set": r.Plan.Stages[stageIndex(&r.Plan, host)].Set},
	})
}

// announceNotes announces the milestones Next reached.
func (a *Applier) announceNotes(ctx context.Context, r *Rollout, st rollout.Step) {
	for _, n := range st.Notes {
		what := map[rollout.NoteKind]string{
			rollout.NoteSetStarted: "set.started", rollout.NoteSetEnded: "set.done",
			rollout.NoteGatePassed: "promoted", rollout.NoteHalted: "halted", rollout.NoteComplete: "complete",
		}[n.Kind]
		if what == "" {
			what = string(n.Kind)
		}
		data := map[string]any{"set": n.Set, "counts": st.Counts}
		if st.Halt != nil && n.Kind == rollout.NoteHalted {
			data["reason"] = st.Halt.Reason
			data["hosts"] = st.Halt.Hosts
		}
		a.announce(ctx, r, what, n.Key, protocol.Event{
			Text: fmt.Sprintf("apply of %s: %s", protocol.Short(r.Target.SHA), n.Text), Data: data,
		})
		if n.Kind == rollout.NoteHalted || n.Kind == rollout.NoteComplete {
			a.log.Info().Str("rollout", r.ID).Str("event", what).Msg(n.Text)
		}
	}
	if len(st.Notes) > 0 {
		// What was announced is recorded with the next save; a crash in
		// between announces again, and the message id drops the repeat.
		if err := a.save(ctx, r); err != nil {
			a.log.Warn().Err(err).Msg("recording announcements")
		}
	}
}

// stageIndex is the stage host is planned in (0 when none).
func stageIndex(p *rollout.Plan, host string) int {
	for i, s := range p.Stages {
		for _, b := range s.Batches {
			for _, h := range b {
				if h == host {
					return i
				}
			}
		}
	}
	return 0
}
