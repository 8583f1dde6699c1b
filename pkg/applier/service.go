package applier

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/micro"

	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/hostinfo"
	"github.com/balcony-dev/balcony/pkg/owners"
	"github.com/balcony-dev/balcony/pkg/protocol"
	"github.com/balcony-dev/balcony/pkg/rollout"
)

// Subjects of the applier's service. The verbs that change something end
// with the identity of who speaks (a login), so NATS permissions decide
// who may; status and plan only read.
const (
	StatusSubject = "balcony.applier.status"
	PlanSubject   = "balcony.applier.plan"
	VerbPrefix    = "balcony.applier."
)

// Verbs that change something, each on VerbPrefix + verb + "." + login.
var controlVerbs = []string{"halt", "resume", "promote", "cancel", "lock", "unlock", "baseline"}

// StatusReply is the applier's state, as `applier status` shows it.
type StatusReply struct {
	// Rollout is the current (or last) rollout; nil when none ever ran.
	Rollout *Rollout `json:"rollout,omitempty"`
	// Step is what the rollout does now: start, wait, promote, soak,
	// halted or complete.
	Step *rollout.Step `json:"step,omitempty"`
	// Counts are the hosts per state in each stage, then all together.
	Stages []StageCounts `json:"stages,omitempty"`
	// Blocked says why no rollout runs, when none does.
	Blocked string `json:"blocked,omitempty"`
	Locks   []Lock `json:"locks,omitempty"`
}

// StageCounts are one stage's hosts per state.
type StageCounts struct {
	Set    string         `json:"set"`
	Counts rollout.Counts `json:"counts"`
}

// PlanReply is what the applier would apply now, as `applier plan`
// shows it.
type PlanReply struct {
	Target     *protocol.Commit          `json:"target,omitempty"`
	Range      []protocol.ApprovedCommit `json:"range,omitempty"`
	Plan       *rollout.Plan             `json:"plan,omitempty"`
	Text       string                    `json:"text"`
	NotPlanned map[string]string         `json:"not_planned,omitempty"`
	Blocked    string                    `json:"blocked,omitempty"`
}

// VerbRequest carries a control verb's arguments.
type VerbRequest struct {
	// Reason is why (halt, lock).
	Reason string `json:"reason,omitempty"`
	// Set is the set whose gate a promote opens ("" for the one waiting).
	Set string `json:"set,omitempty"`
	// Host is the host to lock or unlock.
	Host string `json:"host,omitempty"`
	// Revision and Hosts are a baseline's: hosts none means every host
	// with no last applied revision yet.
	Revision string   `json:"revision,omitempty"`
	Hosts    []string `json:"hosts,omitempty"`
}

// VerbReply says what a control verb did.
type VerbReply struct {
	Message string `json:"message"`
}

// viewBox holds the status the loop last published, so a status request
// never waits for the loop.
type viewBox struct {
	mu      sync.Mutex
	data    []byte // the rollout, msgpack
	blocked string
}

// publishView records the loop's current state for status requests.
func (a *Applier) publishView() {
	a.metrics.show(a.cur)
	var data []byte
	if a.cur != nil {
		var err error
		if data, err = bus.Marshal(a.cur); err != nil {
			a.log.Warn().Err(err).Msg("encoding the rollout for status")
			return
		}
	}
	a.view.mu.Lock()
	a.view.data, a.view.blocked = data, a.blocked
	a.view.mu.Unlock()
}

// status builds the status reply from the last published view.
func (a *Applier) status(ctx context.Context) (*StatusReply, error) {
	a.view.mu.Lock()
	data, blocked := a.view.data, a.view.blocked
	a.view.mu.Unlock()
	reply := &StatusReply{Blocked: blocked}
	if data != nil {
		var r Rollout
		if err := bus.Unmarshal(data, &r); err != nil {
			return nil, err
		}
		reply.Rollout = &r
		// Next on a copy: status never changes the rollout.
		var cp Rollout
		if err := bus.Unmarshal(data, &cp); err != nil {
			return nil, err
		}
		st := cp.Progress.Next(&cp.Plan, a.opts.Now().UTC())
		st.Notes, st.Changed = nil, false
		if r.State == StateCancelled {
			st.Kind = StateCancelled
		}
		reply.Step = &st
		per, _ := r.Progress.Counts(&r.Plan)
		for i, s := range r.Plan.Stages {
			reply.Stages = append(reply.Stages, StageCounts{Set: s.Set, Counts: per[i]})
		}
	}
	locks, err := a.store.locks(ctx)
	if err != nil {
		return nil, err
	}
	sort.Slice(locks, func(i, j int) bool { return locks[i].Host < locks[j].Host })
	reply.Locks = locks
	return reply, nil
}

// planReply works out what would be applied now.
func (a *Applier) planReply(ctx context.Context) (*PlanReply, error) {
	c, p, err := a.plan(ctx)
	if err != nil {
		return nil, err
	}
	reply := &PlanReply{NotPlanned: c.notPlanned, Blocked: c.blocked}
	if p == nil {
		reply.Text = "nothing to apply: " + c.blocked
		return reply, nil
	}
	reply.Target, reply.Range, reply.Plan = &c.target, c.rng, p
	reply.Text = fmt.Sprintf("would apply %s %q (%d commits after %s):\n%s", protocol.Short(c.target.SHA), c.target.Subject, len(c.rng), protocol.Short(c.base), p.Text())
	return reply, nil
}

func (a *Applier) addService(ctx context.Context) (micro.Service, error) {
	svc, err := micro.AddService(a.conn.NC, micro.Config{
		Name:        "balcony-applier",
		Version:     a.opts.Version,
		Description: "staged applies of approved commits: status, plan, and halt, resume, promote, cancel, lock, unlock, baseline .<identity>",
	})
	if err != nil {
		return nil, err
	}
	type endpoint struct {
		name, subject string
		h             func(ctx context.Context, who string, req VerbRequest) (any, error)
	}
	// status comes last: a client (or a test) that finds status answering
	// finds every verb answering too, not "no applier is running" for a
	// verb whose subscription is not yet in.
	var endpoints []endpoint
	for _, verb := range controlVerbs {
		endpoints = append(endpoints, endpoint{verb, VerbPrefix + verb + ".*", a.verb(verb)})
	}
	endpoints = append(endpoints,
		endpoint{"plan", PlanSubject, func(ctx context.Context, _ string, _ VerbRequest) (any, error) { return a.planReply(ctx) }},
		endpoint{"status", StatusSubject, func(ctx context.Context, _ string, _ VerbRequest) (any, error) { return a.status(ctx) }},
	)
	for _, e := range endpoints {
		identified := e.name != "status" && e.name != "plan"
		h := e.h
		err := svc.AddEndpoint(e.name, micro.HandlerFunc(func(req micro.Request) {
			rctx, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			var who string
			var args VerbRequest
			var err error
			if identified {
				var verr error
				if who, verr = owners.SubjectLogin(req.Subject()); verr != nil {
					err = fmt.Errorf("%w: the identity of the subject: %w", bus.ErrMalformed, verr)
				}
			}
			if err == nil && len(req.Data()) > 0 {
				if jerr := json.Unmarshal(req.Data(), &args); jerr != nil {
					err = fmt.Errorf("%w: %v", bus.ErrMalformed, jerr)
				}
			}
			var reply any
			if err == nil {
				reply, err = h(rctx, who, args)
			}
			if err != nil {
				code := "500"
				if errors.Is(err, bus.ErrMalformed) || errors.Is(err, errRefused) {
					code = "400"
				}
				a.log.Debug().Err(err).Str("subject", req.Subject()).Msg("request refused")
				_ = req.Error(code, err.Error(), nil)
				return
			}
			_ = req.RespondJSON(reply)
		}), micro.WithEndpointSubject(e.subject))
		if err != nil {
			_ = svc.Stop()
			return nil, err
		}
	}
	return svc, nil
}

// errRefused wraps a verb that does not apply to the rollout's state.
var errRefused = errors.New("refused")

// verb is the handler of a control verb.
func (a *Applier) verb(name string) func(ctx context.Context, who string, req VerbRequest) (any, error) {
	switch name {
	case "lock":
		return a.lockVerb
	case "unlock":
		return a.unlockVerb
	case "baseline":
		return a.baselineVerb
	}
	return func(ctx context.Context, who string, req VerbRequest) (any, error) {
		v, err := a.submit(ctx, func(ctx context.Context) (any, error) { return a.control(ctx, name, who, req) })
		if err != nil {
			return nil, err
		}
		return v, nil
	}
}

// control runs halt, resume, promote and cancel on the loop.
func (a *Applier) control(ctx context.Context, verb, who string, req VerbRequest) (*VerbReply, error) {
	r := a.cur
	if r == nil || r.State == StateCancelled {
		return nil, fmt.Errorf("%w: no rollout is running", errRefused)
	}
	now := a.opts.Now().UTC()
	var err error
	var msg string
	switch verb {
	case "halt":
		reason := req.Reason
		if reason == "" {
			reason = "halted by " + who
		}
		err = r.Progress.Halt(reason, who, now)
		msg = "halted: nothing new starts; running hosts finish"
	case "resume":
		err = r.Progress.Resume(&r.Plan, now)
		msg = "resumed: failed hosts stay failed and no longer count; skipped hosts are tried again"
	case "promote":
		err = r.Progress.Promote(&r.Plan, req.Set, who, now)
		msg = "promoted: the next set starts"
	case "cancel":
		if r.Over() {
			return nil, fmt.Errorf("%w: the rollout is over", errRefused)
		}
		r.State, r.CancelledBy = StateCancelled, who
		msg = "cancelled: running hosts finish; the next approved commit starts a new rollout"
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errRefused, err)
	}
	if err := a.save(ctx, r); err != nil {
		return nil, err
	}
	a.log.Info().Str("verb", verb).Str("by", who).Str("rollout", r.ID).Msg(msg)
	// A promote is announced by the step that passes the gate.
	var what, key, text string
	switch verb {
	case "halt":
		what, key, text = "halted", fmt.Sprintf("halted/%d", r.Progress.Halts), "halted by "+who+": "+r.Progress.Halted.Reason
	case "resume":
		what, key, text = "resumed", fmt.Sprintf("resumed/%d", r.Progress.Resumes), "resumed by "+who
	case "cancel":
		what, key, text = "cancelled", "cancelled", "cancelled by "+who
	}
	if what != "" {
		a.announce(ctx, r, what, key, protocol.Event{
			Text: fmt.Sprintf("apply of %s: %s", protocol.Short(r.Target.SHA), text),
			Data: map[string]any{"by": who, "reason": req.Reason},
		})
		if err := a.save(ctx, r); err != nil { // what was announced
			a.log.Warn().Err(err).Msg("recording an announcement")
		}
	}
	if err := a.step(ctx); err != nil {
		a.log.Warn().Err(err).Msg("stepping the rollout")
	}
	return &VerbReply{Message: msg}, nil
}

func (a *Applier) lockVerb(ctx context.Context, who string, req VerbRequest) (any, error) {
	if err := bus.ValidHost(req.Host); err != nil {
		return nil, fmt.Errorf("%w: %v", bus.ErrMalformed, err)
	}
	if strings.TrimSpace(req.Reason) == "" {
		return nil, fmt.Errorf("%w: a lock needs a reason", bus.ErrMalformed)
	}
	l := Lock{Host: req.Host, Reason: req.Reason, By: who, At: a.opts.Now().UTC()}
	if err := a.store.setLock(ctx, l); err != nil {
		return nil, err
	}
	a.log.Info().Str("host", l.Host).Str("by", who).Str("reason", l.Reason).Msg("host locked")
	return &VerbReply{Message: fmt.Sprintf("%s locked: no rollout applies it until it is unlocked", l.Host)}, nil
}

func (a *Applier) unlockVerb(ctx context.Context, who string, req VerbRequest) (any, error) {
	if err := bus.ValidHost(req.Host); err != nil {
		return nil, fmt.Errorf("%w: %v", bus.ErrMalformed, err)
	}
	if err := a.store.unlock(ctx, req.Host); err != nil {
		return nil, err
	}
	a.log.Info().Str("host", req.Host).Str("by", who).Msg("host unlocked")
	return &VerbReply{Message: req.Host + " unlocked"}, nil
}

// baselineVerb records a last applied revision for hosts that have none
// (or for the hosts named): the revision must be on the branch's
// first-parent chain. The host's noop of it is its drift.
func (a *Applier) baselineVerb(ctx context.Context, who string, req VerbRequest) (any, error) {
	if err := a.opts.Code.Fetch(ctx); err != nil {
		return nil, fmt.Errorf("fetch the repository: %w", err)
	}
	sha, err := a.opts.Code.Resolve(req.Revision)
	if err != nil {
		return nil, fmt.Errorf("%w: revision %q: %v", errRefused, req.Revision, err)
	}
	chain, err := a.firstParents()
	if err != nil {
		return nil, err
	}
	onChain := false
	for _, c := range chain {
		onChain = onChain || c == sha
	}
	if !onChain {
		return nil, fmt.Errorf("%w: %s is not on the first-parent chain of %s", errRefused, protocol.Short(sha), a.opts.Branch)
	}
	hosts := req.Hosts
	if len(hosts) == 0 {
		all, err := a.hostRecords(ctx)
		if err != nil {
			return nil, err
		}
		for _, h := range all {
			if h.LastApplied == "" {
				hosts = append(hosts, h.Host)
			}
		}
	}
	sort.Strings(hosts)
	for _, h := range hosts {
		if err := bus.ValidHost(h); err != nil {
			return nil, fmt.Errorf("%w: %v", bus.ErrMalformed, err)
		}
	}
	for _, h := range hosts {
		_, err := hostinfo.Update(ctx, a.hosts, h, func(info *protocol.HostInfo, _ bool) error {
			// A baseline records what the host has, it changes nothing
			// there: no apply time, so no noop counts as stale by it.
			info.LastApplied, info.AppliedAt, info.AppliedRun = sha, time.Time{}, ""
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	a.log.Info().Str("revision", sha).Strs("hosts", hosts).Str("by", who).Msg("baseline recorded")
	if len(hosts) == 0 {
		return &VerbReply{Message: "no host without a last applied revision: name the hosts to record it for"}, nil
	}
	return &VerbReply{Message: fmt.Sprintf("recorded %s as the last applied revision of %d hosts: %s", protocol.Short(sha), len(hosts), strings.Join(hosts, ", "))}, nil
}
