package applier

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/hostinfo"
	"github.com/balcony-dev/balcony/pkg/protocol"
	"github.com/balcony-dev/balcony/pkg/rollout"
	"github.com/balcony-dev/balcony/pkg/runs"
)

// plan works out the candidate and its plan, without starting anything.
func (a *Applier) plan(ctx context.Context) (*candidate, *rollout.Plan, error) {
	if err := a.opts.Code.Fetch(ctx); err != nil {
		return nil, nil, fmt.Errorf("fetch the repository: %w", err)
	}
	c, err := a.candidate(ctx)
	if err != nil || c.blocked != "" {
		return c, nil, err
	}
	in := rollout.Input{Groups: c.groups, Listed: map[string][]string{}}
	for h := range c.from {
		in.Hosts = append(in.Hosts, h)
	}
	sort.Strings(in.Hosts)
	if len(in.Hosts) == 0 {
		c.blocked = "every host with a last applied revision is at or after the target"
		return c, nil, nil
	}
	for _, set := range a.opts.Config.ApplySets {
		if len(set.Command) == 0 {
			continue
		}
		listed, err := a.opts.List(ctx, set.Command)
		if err != nil {
			return nil, nil, fmt.Errorf("the hosts of set %s: %w", set.Name, err)
		}
		in.Listed[set.Name] = listed
	}
	p, err := rollout.NewPlan(a.opts.Config.Config, in)
	if err != nil {
		return nil, nil, err
	}
	for _, h := range p.Unplanned {
		c.notPlanned[h] = "no apply set names it"
	}
	return c, &p, nil
}

// begin starts a rollout of the newest approved target, unless it is the
// target of the last rollout (a rollout that ended with hosts failed or
// skipped is not started again by itself: a newer commit, or an
// operator's resume of a halted one, moves on).
func (a *Applier) begin(ctx context.Context) error {
	c, p, err := a.plan(ctx)
	if err != nil {
		return err
	}
	if p == nil {
		a.blocked = c.blocked
		return nil
	}
	if a.cur != nil && a.cur.Target.SHA == c.target.SHA {
		a.blocked = fmt.Sprintf("the last rollout already applied %s; waiting for a newer approved commit", protocol.Short(c.target.SHA))
		return nil
	}
	now := a.opts.Now().UTC()
	r := &Rollout{
		ID: nuid.Next(), Branch: a.opts.Branch, Target: c.target, Base: c.base, Range: c.rng,
		From: c.from, Plan: *p, Progress: rollout.NewProgress(p), NotPlanned: c.notPlanned,
		Results: map[string]HostResult{}, Announced: map[string]bool{}, Created: now, Updated: now,
	}
	if err := a.save(ctx, r); err != nil {
		return err
	}
	a.cur, a.blocked = r, ""
	clear(a.unsent)
	a.metrics.rollouts.Inc()
	a.log.Info().Str("rollout", r.ID).Str("target", r.Target.SHA).Int("hosts", p.Hosts).Int("commits", len(r.Range)).Msg("rollout started")
	a.announce(ctx, r, "started", "", protocol.Event{
		Text: fmt.Sprintf("applying %s %q: %d commits on %d hosts in %d sets (%s)", protocol.Short(r.Target.SHA), r.Target.Subject, len(r.Range), p.Hosts, len(p.Stages), stageNames(p)),
		Data: map[string]any{"rollout": r.ID, "hosts": p.Hosts, "commits": len(r.Range), "not_planned": len(r.NotPlanned)},
	})
	return nil
}

func stageNames(p *rollout.Plan) string {
	var parts []string
	for _, s := range p.Stages {
		parts = append(parts, fmt.Sprintf("%s: %d", s.Set, len(s.Hosts())))
	}
	return strings.Join(parts, ", ")
}

// save writes r, stamped, with compare-and-set.
func (a *Applier) save(ctx context.Context, r *Rollout) error {
	r.Updated = a.opts.Now().UTC()
	return a.store.save(ctx, r)
}

// maxSteps bounds the steps of one tick: each start or skip is one, and
// a batch of skipped hosts lets the next batch start at once.
const maxSteps = 100

// step advances the current rollout as far as it can go now.
func (a *Applier) step(ctx context.Context) error {
	r := a.cur
	if r == nil || r.Over() {
		return nil
	}
	if err := a.sendUnsent(ctx, r); err != nil {
		return err
	}
	if err := a.expire(ctx, r); err != nil {
		return err
	}
	for range maxSteps {
		now := a.opts.Now().UTC()
		st := r.Progress.Next(&r.Plan, now)
		if st.Changed {
			if err := a.save(ctx, r); err != nil {
				return err
			}
		}
		a.announceNotes(ctx, r, st)
		if st.Kind != rollout.StepStart || len(st.Start) == 0 {
			return nil
		}
		for _, host := range st.Start {
			if err := a.startHost(ctx, r, host); err != nil {
				return err
			}
		}
	}
	return nil
}

// startHost asks host to apply, or skips it and says why.
func (a *Applier) startHost(ctx context.Context, r *Rollout, host string) error {
	now := a.opts.Now().UTC()
	why, from, err := a.unfit(ctx, r, host)
	if err != nil {
		return err
	}
	if why != "" {
		if err := r.Progress.Skip(&r.Plan, host, why, now); err != nil {
			return err
		}
		if err := a.save(ctx, r); err != nil {
			return err
		}
		a.log.Info().Str("host", host).Str("reason", why).Msg("host skipped")
		a.announceHost(ctx, r, host, "skipped", why)
		return nil
	}
	h := r.Progress.Host(host)
	id := runs.RunID(protocol.KindApply, r.Target.SHA, host, h.Attempts+1, r.ID)
	if err := r.Progress.Start(&r.Plan, host, id, now); err != nil {
		return err
	}
	r.From[host] = from
	// Recorded before it is sent: after a crash the host is known to run
	// this run, and is never asked with another id.
	if err := a.save(ctx, r); err != nil {
		return err
	}
	if err := a.send(ctx, r, host); err != nil {
		a.unsent[host] = true
		a.log.Warn().Err(err).Str("host", host).Msg("asking a host to apply; asking again at the next step")
		return nil
	}
	a.log.Info().Str("host", host).Str("run", id).Str("from", protocol.Short(from)).Msg("apply asked")
	return nil
}

// unfit says why host must be skipped now (locked, its Puppet disabled,
// its last applied revision moved out of the range), and otherwise gives
// its last applied revision.
func (a *Applier) unfit(ctx context.Context, r *Rollout, host string) (why, from string, err error) {
	lock, err := a.store.lock(ctx, host)
	if err != nil {
		return "", "", err
	}
	if lock != nil {
		return fmt.Sprintf("locked by %s: %s", lock.By, lock.Reason), "", nil
	}
	info, err := hostinfo.Get(ctx, a.hosts, host)
	if err != nil {
		return "", "", err
	}
	switch {
	case info == nil:
		return "its host record is gone (the agent has been silent for the hosts bucket's ttl)", "", nil
	case info.PuppetDisabled != "":
		return "puppet is disabled on the host: " + info.PuppetDisabled, "", nil
	case info.LastApplied == r.Target.SHA:
		return "already at the target", "", nil
	}
	if _, ok := rangeFor(r, info.LastApplied); !ok {
		return fmt.Sprintf("its last applied revision changed to %s since the rollout was planned", protocol.Short(info.LastApplied)), "", nil
	}
	return "", info.LastApplied, nil
}

// send publishes host's current run.
func (a *Applier) send(ctx context.Context, r *Rollout, host string) error {
	h := r.Progress.Host(host)
	from := r.From[host]
	rng, ok := rangeFor(r, from)
	if !ok {
		return fmt.Errorf("%s's last applied revision %s is not in the rollout's range", host, protocol.Short(from))
	}
	req := protocol.RunRequest{
		Schema: protocol.SchemaVersion, ID: h.RunID, Kind: protocol.KindApply, Host: host,
		Revision: r.Target.SHA, Deadline: h.StartedAt.Add(a.opts.RunTimeout), RequestedBy: "applier",
		Time: h.StartedAt, From: from, Approved: rng,
	}
	if err := a.asker.Publish(ctx, req); err != nil {
		return err
	}
	delete(a.unsent, host)
	return nil
}

// sendUnsent sends again the runs of running hosts that may not have
// reached RUNS, unless RUNS already holds them: the last run on the host's
// apply subject carries the run id as its message id. So a run is stored
// once, whenever the applier died, and the agent runs it once.
func (a *Applier) sendUnsent(ctx context.Context, r *Rollout) error {
	for host := range a.unsent {
		h := r.Progress.Host(host)
		if h.State != rollout.Running {
			delete(a.unsent, host)
			continue
		}
		subject, err := bus.RunSubject(protocol.KindApply, host)
		if err != nil {
			return err
		}
		m, err := a.runs.GetLastMsgForSubject(ctx, subject)
		switch {
		case err == nil && m.Header.Get(jetstream.MsgIDHeader) == h.RunID:
			delete(a.unsent, host)
			continue
		case err != nil && !errors.Is(err, jetstream.ErrMsgNotFound):
			return fmt.Errorf("look for %s's run in RUNS: %w", host, err)
		}
		if err := a.send(ctx, r, host); err != nil {
			return err
		}
		a.log.Info().Str("host", host).Str("run", h.RunID).Msg("apply asked (again: it had not reached RUNS)")
	}
	return nil
}

// expire fails running hosts that did not answer by their run's deadline
// and a grace.
func (a *Applier) expire(ctx context.Context, r *Rollout) error {
	now := a.opts.Now().UTC()
	for host, h := range r.Progress.Hosts {
		if h.State != rollout.Running || now.Before(h.StartedAt.Add(a.opts.RunTimeout+a.opts.Grace)) {
			continue
		}
		why := fmt.Sprintf("no answer within the run timeout (%s)", a.opts.RunTimeout)
		if err := r.Progress.Finish(&r.Plan, host, h.RunID, rollout.Failed, why, now); err != nil {
			return err
		}
		a.asker.Expired()
		if err := a.save(ctx, r); err != nil {
			return err
		}
		a.announceHost(ctx, r, host, "failed", why)
	}
	return nil
}
