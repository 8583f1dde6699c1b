package rollout

import (
	"errors"
	"fmt"
	"time"
)

// HostState is where a host is in the rollout.
type HostState string

const (
	// Pending: not started yet (a host absent from Progress.Hosts is
	// pending).
	Pending HostState = "pending"
	// Running: the applier asked it to apply, with HostProgress.RunID.
	Running HostState = "running"
	// Done: applied and reconciled.
	Done HostState = "done"
	// Failed: the run failed, or reconciliation found a change nobody
	// approved; counts against the thresholds.
	Failed HostState = "failed"
	// Skipped: did not apply (locked, Puppet disabled or running); does
	// not count against the thresholds, and is tried again on Resume.
	Skipped HostState = "skipped"
)

// ended says whether the host will not run again (until a Resume retries a
// skipped host).
func (s HostState) ended() bool { return s == Done || s == Failed || s == Skipped }

// Progress is the state of one rollout of one Plan: what the applier
// persists (every field has a msgpack tag) after every change, and reads
// back after a restart. It changes only through its methods; the zero
// Progress is a rollout where nothing has happened yet. Not safe for
// concurrent use.
type Progress struct {
	// Hosts are the hosts that have started or been skipped, by name (a
	// skipped host a Resume retries is here again as Pending).
	Hosts map[string]HostProgress `json:"hosts" msgpack:"hosts"`
	// Sets are the stages' progress, by stage index in the plan.
	Sets []SetProgress `json:"sets" msgpack:"sets"`
	// Halted is set while the rollout is halted.
	Halted *Halt `json:"halted,omitempty" msgpack:"halted"`
	// Halts and Resumes count the halts and resumes so far.
	Halts   int `json:"halts" msgpack:"halts"`
	Resumes int `json:"resumes" msgpack:"resumes"`
	// Completed is when Next found every stage ended; zero until then.
	Completed time.Time `json:"completed,omitzero" msgpack:"completed"`
}

// HostProgress is one host's state.
type HostProgress struct {
	State HostState `json:"state" msgpack:"state"`
	// RunID is the id of the host's latest run: a result counts only for
	// it, so a host is never applied twice by accident.
	RunID string `json:"run_id,omitempty" msgpack:"run_id"`
	// Attempts counts the runs the host was asked for (a retry after an
	// expired run is one more).
	Attempts int `json:"attempts,omitempty" msgpack:"attempts"`
	// Reason says why a host failed or was skipped.
	Reason     string    `json:"reason,omitempty" msgpack:"reason"`
	StartedAt  time.Time `json:"started_at,omitzero" msgpack:"started_at"`
	FinishedAt time.Time `json:"finished_at,omitzero" msgpack:"finished_at"`
	// Acknowledged marks a failure that a Resume acknowledged: the host
	// stays failed but no longer counts against the thresholds.
	Acknowledged bool `json:"acknowledged,omitempty" msgpack:"acknowledged"`
}

// SetProgress is one stage's progress.
type SetProgress struct {
	// Started is when Next first started a host of the stage.
	Started time.Time `json:"started,omitzero" msgpack:"started"`
	// Ended is when Next first found all the stage's hosts ended.
	Ended time.Time `json:"ended,omitzero" msgpack:"ended"`
	// SoakUntil is when a soak gate opens: the stage's last host's end
	// plus the soak time.
	SoakUntil time.Time `json:"soak_until,omitzero" msgpack:"soak_until"`
	// Promoted, PromotedBy and PromotedAt record `applier promote`.
	Promoted   bool      `json:"promoted,omitempty" msgpack:"promoted"`
	PromotedBy string    `json:"promoted_by,omitempty" msgpack:"promoted_by"`
	PromotedAt time.Time `json:"promoted_at,omitzero" msgpack:"promoted_at"`
	// Passed says the gate after the stage has opened, for good: a host
	// of the stage retried later does not close it again.
	Passed bool `json:"passed,omitempty" msgpack:"passed"`
}

// HaltCause is why a rollout halted.
type HaltCause string

const (
	// CauseOperator: `applier halt`.
	CauseOperator HaltCause = "operator"
	// CauseSet: a set's failures exceeded its max_failures.
	CauseSet HaltCause = "set"
	// CauseBudget: the failures of all sets exceeded the failure budget.
	CauseBudget HaltCause = "budget"
)

// Halt is why and when a rollout halted.
type Halt struct {
	Cause HaltCause `json:"cause" msgpack:"cause"`
	// Set is the first set whose threshold was exceeded (CauseSet).
	Set string `json:"set,omitempty" msgpack:"set"`
	// Reason is one line: each threshold exceeded, its failed hosts and
	// their reasons; or the operator's reason.
	Reason string `json:"reason" msgpack:"reason"`
	// Hosts are the failed hosts counted against the thresholds exceeded.
	Hosts []string `json:"hosts,omitempty" msgpack:"hosts"`
	// By is the operator, for CauseOperator.
	By string    `json:"by,omitempty" msgpack:"by"`
	At time.Time `json:"at" msgpack:"at"`
}

// Sentinel errors of the transitions.
var (
	ErrUnknownHost = errors.New("host not in the plan")
	ErrHostState   = errors.New("host is not in a state that allows this")
	ErrStaleRun    = errors.New("result of a run that is not the host's current run")
	ErrHalted      = errors.New("rollout is halted")
	ErrNotHalted   = errors.New("rollout is not halted")
	ErrComplete    = errors.New("rollout is complete")
	ErrNoGate      = errors.New("rollout is not waiting at a gate")
)

// NewProgress is the progress of a rollout of plan that has not started.
func NewProgress(plan *Plan) Progress {
	var p Progress
	p.fit(plan)
	return p
}

// fit makes room for every stage of plan (a zero Progress, or one read
// back from a bucket that dropped empty fields).
func (p *Progress) fit(plan *Plan) {
	if p.Hosts == nil {
		p.Hosts = map[string]HostProgress{}
	}
	for len(p.Sets) < len(plan.Stages) {
		p.Sets = append(p.Sets, SetProgress{})
	}
}

// Host is host's progress (State Pending when it has none).
func (p *Progress) Host(host string) HostProgress {
	if h, ok := p.Hosts[host]; ok {
		return h
	}
	return HostProgress{State: Pending}
}

// Start records that the applier asked host to apply with run runID; call
// it for each host of a StepStart, and persist, BEFORE sending the run, so
// that after a crash the host is known to be running that run (and is not
// asked with another id). A run id must be new for every attempt (the
// agent runs an id once): e.g. "<rollout>-<host>-<Attempts+1>"; Attempts
// survives a Resume. Starting a running host with its current run id
// changes nothing; with a new one it is a retry (after its run expired
// unapplied). Errors: ErrComplete,
// ErrHalted, ErrUnknownHost, ErrHostState (the host has ended).
func (p *Progress) Start(plan *Plan, host, runID string, now time.Time) error {
	if err := p.open(); err != nil {
		return err
	}
	if plan.stageOf(host) < 0 {
		return fmt.Errorf("start %s: %w", host, ErrUnknownHost)
	}
	if runID == "" {
		return fmt.Errorf("start %s: empty run id", host)
	}
	p.fit(plan)
	h := p.Host(host)
	if h.State.ended() {
		return fmt.Errorf("start %s: %w: %s", host, ErrHostState, h.State)
	}
	if h.State == Running && h.RunID == runID {
		return nil // recorded already
	}
	h.State, h.RunID, h.Attempts, h.StartedAt = Running, runID, h.Attempts+1, now
	p.Hosts[host] = h
	return nil
}

// Finish records the end of host's run runID: Done, Failed or Skipped (the
// agent found Puppet disabled or running), with the reason of a failure or
// a skip. The same result twice is accepted and changes nothing. Allowed
// while halted (running hosts still end). Errors: ErrUnknownHost,
// ErrStaleRun (runID is not the host's current run: ignore the result),
// ErrHostState (the host is not running).
func (p *Progress) Finish(plan *Plan, host, runID string, state HostState, reason string, now time.Time) error {
	if plan.stageOf(host) < 0 {
		return fmt.Errorf("finish %s: %w", host, ErrUnknownHost)
	}
	if !state.ended() {
		return fmt.Errorf("finish %s: %q is not an end state", host, state)
	}
	p.fit(plan)
	h := p.Host(host)
	switch {
	case h.RunID != runID:
		return fmt.Errorf("finish %s run %s (current run %q): %w", host, runID, h.RunID, ErrStaleRun)
	case h.State == state && h.Reason == reason:
		return nil
	case h.State != Running:
		return fmt.Errorf("finish %s: %w: %s", host, ErrHostState, h.State)
	}
	h.State, h.Reason, h.FinishedAt = state, reason, now
	p.Hosts[host] = h
	return nil
}

// Skip records that the applier did not start a pending host of a
// StepStart, and why (locked, Puppet disabled or running). Errors:
// ErrUnknownHost, ErrHostState (the host is not pending).
func (p *Progress) Skip(plan *Plan, host, reason string, now time.Time) error {
	if plan.stageOf(host) < 0 {
		return fmt.Errorf("skip %s: %w", host, ErrUnknownHost)
	}
	p.fit(plan)
	h := p.Host(host)
	if h.State != Pending {
		return fmt.Errorf("skip %s: %w: %s", host, ErrHostState, h.State)
	}
	h.State, h.Reason, h.FinishedAt = Skipped, reason, now
	p.Hosts[host] = h
	return nil
}

// Promote opens the gate the rollout is waiting at (a promote gate, or a
// soak gate before its time): set names the set whose gate the operator
// means, or "" for whichever it is. A promote is refused before the set
// has ended, so nobody promotes canaries they have not seen. Errors:
// ErrComplete, ErrHalted, ErrNoGate (not waiting at a gate, or at another
// set's).
func (p *Progress) Promote(plan *Plan, set, by string, now time.Time) error {
	if err := p.open(); err != nil {
		return err
	}
	p.fit(plan)
	i, atGate := p.position(plan)
	switch {
	case i < 0:
		return fmt.Errorf("promote: %w: every set has ended", ErrNoGate)
	case !atGate:
		return fmt.Errorf("promote: %w: set %s is applying", ErrNoGate, plan.Stages[i].Set)
	case set != "" && set != plan.Stages[i].Set:
		return fmt.Errorf("promote %s: %w: the rollout waits after set %s", set, ErrNoGate, plan.Stages[i].Set)
	}
	sp := &p.Sets[i]
	if !sp.Promoted {
		sp.Promoted, sp.PromotedBy, sp.PromotedAt = true, by, now
	}
	return nil
}

// Halt halts the rollout for an operator: nothing new starts; running hosts
// still end. Errors: ErrComplete, ErrHalted (already, with its reason).
func (p *Progress) Halt(reason, by string, now time.Time) error {
	if err := p.open(); err != nil {
		return err
	}
	p.Halted = &Halt{Cause: CauseOperator, Reason: reason, By: by, At: now}
	p.Halts++
	return nil
}

// Resume resumes a halted rollout; only an operator does (Next never
// does). Failed hosts stay failed, are not retried and stay in the status,
// but the resume acknowledges them: the thresholds count only failures
// after it, so each resume grants every set its max_failures, and the
// rollout its budget, anew. Skipped hosts go back to pending and are tried
// again, in their set's order, before the current set goes on: whatever
// skipped them (a lock, a disabled Puppet) is what an operator fixes
// before resuming, and a host still locked is simply skipped again. Gates
// already opened stay open. Errors: ErrComplete, ErrNotHalted.
func (p *Progress) Resume(plan *Plan, now time.Time) error {
	if !p.Completed.IsZero() {
		return ErrComplete
	}
	if p.Halted == nil {
		return ErrNotHalted
	}
	p.fit(plan)
	for host, h := range p.Hosts {
		switch h.State {
		case Failed:
			h.Acknowledged = true
			p.Hosts[host] = h
		case Skipped:
			// Pending again, keeping its attempts and last run id, so the
			// applier's next run id for it is a new one.
			h.State, h.Reason, h.FinishedAt = Pending, "", time.Time{}
			p.Hosts[host] = h
		}
	}
	p.Halted = nil
	p.Resumes++
	return nil
}

// open fails when the rollout takes no new action: complete or halted.
func (p *Progress) open() error {
	if !p.Completed.IsZero() {
		return ErrComplete
	}
	if p.Halted != nil {
		return fmt.Errorf("%w: %s", ErrHalted, p.Halted.Reason)
	}
	return nil
}

// position finds where the rollout is: the index of the first non-empty
// stage that has a host still to end (atGate false) or that has ended with
// its gate not yet passed (atGate true); -1 when every stage is through.
func (p *Progress) position(plan *Plan) (stage int, atGate bool) {
	for i, st := range plan.Stages {
		if len(st.Batches) == 0 {
			continue
		}
		if p.currentBatch(st) >= 0 {
			return i, false
		}
		if st.Gate.IsSet() && !p.Sets[i].Passed {
			return i, true
		}
	}
	return -1, false
}

// currentBatch is the index of the stage's first batch with a host that
// has not ended, or -1.
func (p *Progress) currentBatch(st Stage) int {
	for b, hosts := range st.Batches {
		for _, h := range hosts {
			if !p.Host(h).State.ended() {
				return b
			}
		}
	}
	return -1
}
