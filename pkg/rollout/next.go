package rollout

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// StepKind is what the applier does now.
type StepKind string

const (
	// StepStart: start Step.Start (then wait for Step.Running and them).
	StepStart StepKind = "start"
	// StepWait: wait for Step.Running to end.
	StepWait StepKind = "wait"
	// StepPromote: Step.Set has ended; wait for `applier promote`.
	StepPromote StepKind = "promote"
	// StepSoak: Step.Set has ended; wait until Step.Until (or a promote).
	StepSoak StepKind = "soak"
	// StepHalted: halted (Step.Halt says why); start nothing, still
	// collect Step.Running, wait for an operator's resume.
	StepHalted StepKind = "halted"
	// StepComplete: every stage has ended; the rollout is over.
	StepComplete StepKind = "complete"
)

// Step is what Next decided.
type Step struct {
	Kind StepKind `json:"kind"`
	// Set is the stage concerned (start, wait, promote, soak).
	Set string `json:"set,omitempty"`
	// Batch is the 1-based batch of Set being applied, of Batches.
	Batch   int `json:"batch,omitempty"`
	Batches int `json:"batches,omitempty"`
	// Start are the hosts to start now, in plan order: never more than the
	// concurrency cap leaves room for.
	Start []string `json:"start,omitempty"`
	// Running are all running hosts, in plan order (their run ids are in
	// Progress.Hosts): wait for their results, whatever the kind.
	Running []string `json:"running,omitempty"`
	// Until is when a soak ends.
	Until time.Time `json:"until,omitzero"`
	// Halt is why the rollout is halted.
	Halt *Halt `json:"halt,omitempty"`
	// Counts are the hosts in each state, all stages together.
	Counts Counts `json:"counts"`
	// Notes are what happened in this call, to announce once each.
	Notes []Note `json:"notes,omitempty"`
	// Changed says Next changed the Progress: persist it before acting.
	Changed bool `json:"changed,omitempty"`
}

// NoteKind is a milestone Next records.
type NoteKind string

const (
	NoteSetStarted NoteKind = "set_started"
	NoteSetEnded   NoteKind = "set_ended"
	NoteGatePassed NoteKind = "gate_passed"
	NoteHalted     NoteKind = "halted"
	NoteComplete   NoteKind = "complete"
)

// Note is a milestone reached in one Next call: recorded in the Progress,
// so it is reported once per rollout (Key is stable, for Nats-Msg-Id).
type Note struct {
	Kind NoteKind `json:"kind"`
	Set  string   `json:"set,omitempty"`
	Key  string   `json:"key"`
	Text string   `json:"text"`
}

// Counts are numbers of hosts by state.
type Counts struct {
	Pending int `json:"pending"`
	Running int `json:"running"`
	Done    int `json:"done"`
	Failed  int `json:"failed"`
	Skipped int `json:"skipped"`
}

func (c *Counts) add(s HostState) {
	switch s {
	case Pending:
		c.Pending++
	case Running:
		c.Running++
	case Done:
		c.Done++
	case Failed:
		c.Failed++
	case Skipped:
		c.Skipped++
	}
}

// String is e.g. "3 done, 1 failed, 1 skipped, 2 running, 10 pending",
// leaving out zeros.
func (c Counts) String() string {
	var parts []string
	for _, x := range []struct {
		n    int
		what string
	}{{c.Done, "done"}, {c.Failed, "failed"}, {c.Skipped, "skipped"}, {c.Running, "running"}, {c.Pending, "pending"}} {
		if x.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", x.n, x.what))
		}
	}
	if len(parts) == 0 {
		return "no host"
	}
	return strings.Join(parts, ", ")
}

// Counts counts the plan's hosts by state, per stage and in total.
func (p *Progress) Counts(plan *Plan) (perStage []Counts, total Counts) {
	perStage = make([]Counts, len(plan.Stages))
	for i, st := range plan.Stages {
		for _, b := range st.Batches {
			for _, h := range b {
				s := p.Host(h).State
				perStage[i].add(s)
				total.add(s)
			}
		}
	}
	return perStage, total
}

// Next decides what the applier does now, from the plan, the progress and
// the time; the applier calls it on every tick and after every transition.
// The same inputs always give the same Step. In order:
//
//   - complete: StepComplete;
//   - halted: StepHalted (until an operator's Resume);
//   - a set's failures (not acknowledged by a Resume) exceed its
//     allowance, or those of all sets exceed the budget: Next halts the
//     rollout (StepHalted, Note halted) naming each threshold, its failed
//     hosts and their reasons;
//   - the first stage with hosts that have not ended: its first batch with
//     such hosts is the current one (a batch starts only when the one
//     before has ended); its pending hosts start, as many as the
//     concurrency cap leaves room for beside all running hosts (StepStart),
//     or else StepWait;
//   - a stage that has ended, with a gate not yet passed: StepPromote
//     until Promote, or StepSoak until its last host's end plus the soak;
//   - otherwise the rollout is complete (Note complete).
//
// Next changes p only to record what it decided (a set started or ended,
// a soak's end, a gate passed, a halt, completion), says so in
// Step.Changed, and reports each milestone once in Step.Notes.
func (p *Progress) Next(plan *Plan, now time.Time) Step {
	p.fit(plan)
	_, total := p.Counts(plan)
	step := Step{Counts: total, Running: p.running(plan)}
	note := func(kind NoteKind, set, key, text string) {
		step.Notes = append(step.Notes, Note{Kind: kind, Set: set, Key: key, Text: text})
		step.Changed = true
	}
	if !p.Completed.IsZero() {
		step.Kind = StepComplete
		return step
	}
	if p.Halted == nil {
		if h := p.exceeded(plan); h != nil {
			h.At = now
			p.Halted = h
			p.Halts++
			note(NoteHalted, h.Set, fmt.Sprintf("halted/%d", p.Halts), "halted: "+h.Reason)
		}
	}
	if p.Halted != nil {
		step.Kind, step.Halt = StepHalted, p.Halted
		return step
	}

	perStage, _ := p.Counts(plan)
	for i, st := range plan.Stages {
		if len(st.Batches) == 0 {
			continue
		}
		sp := &p.Sets[i]
		step.Set = st.Set
		if b := p.currentBatch(st); b >= 0 {
			if sp.Started.IsZero() {
				sp.Started = now
				note(NoteSetStarted, st.Set, "set_started/"+st.Set,
					fmt.Sprintf("set %s started: %s in %s of %d", st.Set, plural(len(st.Hosts()), "host"), plural(len(st.Batches), "batch"), st.BatchSize))
			}
			step.Batch, step.Batches = b+1, len(st.Batches)
			room := len(st.Batches[b])
			if c := plan.Config.Concurrency; c > 0 {
				room = c - len(step.Running)
			}
			for _, h := range st.Batches[b] {
				if len(step.Start) < room && p.Host(h).State == Pending {
					step.Start = append(step.Start, h)
				}
			}
			step.Kind = StepWait
			if len(step.Start) > 0 {
				step.Kind = StepStart
			}
			return step
		}
		if sp.Ended.IsZero() {
			sp.Ended = now
			text := fmt.Sprintf("set %s ended: %s", st.Set, perStage[i])
			switch {
			case st.Gate.Promote():
				text += "; waiting for applier promote"
			case st.Gate.IsSet():
				text += "; soaking " + st.Gate.Soak().String()
			}
			note(NoteSetEnded, st.Set, "set_ended/"+st.Set, text)
		}
		if !st.Gate.IsSet() || sp.Passed {
			continue
		}
		if st.Gate.Promote() && !sp.Promoted {
			step.Kind = StepPromote
			return step
		}
		if !st.Gate.Promote() && !sp.Promoted {
			if sp.SoakUntil.IsZero() {
				sp.SoakUntil = p.lastEnd(st, now).Add(st.Gate.Soak())
				step.Changed = true
			}
			if now.Before(sp.SoakUntil) {
				step.Kind, step.Until = StepSoak, sp.SoakUntil
				return step
			}
		}
		sp.Passed = true
		how := "soak over"
		if sp.Promoted {
			how = "promoted by " + sp.PromotedBy
		}
		note(NoteGatePassed, st.Set, "gate_passed/"+st.Set, fmt.Sprintf("set %s: %s", st.Set, how))
	}
	step.Set = ""
	p.Completed = now
	note(NoteComplete, "", "complete", "rollout complete: "+total.String())
	step.Kind = StepComplete
	return step
}

// running lists the running hosts in plan order.
func (p *Progress) running(plan *Plan) []string {
	var out []string
	for _, st := range plan.Stages {
		for _, h := range st.Hosts() {
			if p.Host(h).State == Running {
				out = append(out, h)
			}
		}
	}
	return out
}

// lastEnd is when the stage's last host ended (now when none recorded it).
func (p *Progress) lastEnd(st Stage, now time.Time) time.Time {
	var last time.Time
	for _, h := range st.Hosts() {
		if t := p.Host(h).FinishedAt; t.After(last) {
			last = t
		}
	}
	if last.IsZero() {
		return now
	}
	return last
}

// maxNamed is how many failed hosts a halt reason names before "and N more".
const maxNamed = 5

// exceeded is the halt due now: every set whose unacknowledged failures
// exceed its allowance, then the budget; nil when none is exceeded.
func (p *Progress) exceeded(plan *Plan) *Halt {
	var reasons, all []string
	var h Halt
	for i, st := range plan.Stages {
		failed := p.failed(st)
		all = append(all, failed...)
		if len(failed) <= st.Allowance {
			continue
		}
		if h.Cause == "" {
			h.Cause, h.Set = CauseSet, st.Set
		}
		h.Hosts = append(h.Hosts, failed...)
		set := plan.Config.ApplySets[i] // stage i is set i
		reasons = append(reasons, fmt.Sprintf("set %s: %s failed, more than max_failures %s allows (%d of %s): %s",
			st.Set, plural(len(failed), "host"), amountText(set.MaxFailures), st.Allowance, plural(len(st.Hosts()), "host"), p.named(failed)))
	}
	if plan.Budget != NoBudget && len(all) > plan.Budget {
		if h.Cause == "" {
			h.Cause = CauseBudget
		}
		h.Hosts = all
		reasons = append(reasons, fmt.Sprintf("failure budget: %s failed across all sets, more than %s allows (%d of %s): %s",
			plural(len(all), "host"), plan.Config.FailureBudget, plan.Budget, plural(plan.Hosts, "host"), p.named(all)))
	}
	if len(reasons) == 0 {
		return nil
	}
	slices.Sort(h.Hosts)
	h.Hosts = slices.Compact(h.Hosts)
	h.Reason = strings.Join(reasons, "; ")
	return &h
}

// failed lists the stage's failed hosts that count (not acknowledged).
func (p *Progress) failed(st Stage) []string {
	var out []string
	for _, h := range st.Hosts() {
		if hp := p.Host(h); hp.State == Failed && !hp.Acknowledged {
			out = append(out, h)
		}
	}
	return out
}

// named is "a (reason), b (reason)" for the first maxNamed hosts, then
// "and N more".
func (p *Progress) named(hosts []string) string {
	var parts []string
	for _, h := range hosts[:min(len(hosts), maxNamed)] {
		if r := p.Host(h).Reason; r != "" {
			parts = append(parts, h+" ("+r+")")
		} else {
			parts = append(parts, h)
		}
	}
	s := strings.Join(parts, ", ")
	if len(hosts) > maxNamed {
		s += fmt.Sprintf(" and %d more", len(hosts)-maxNamed)
	}
	return s
}

// amountText is an allowance as written, "0" when unset.
func amountText(a Amount) string {
	if !a.IsSet() {
		return "0"
	}
	return a.String()
}

// String is the step in one line, for the applier's events and logs.
func (s Step) String() string {
	batch := ""
	if s.Batches > 0 {
		batch = fmt.Sprintf(", batch %d/%d", s.Batch, s.Batches)
	}
	switch s.Kind {
	case StepStart:
		return fmt.Sprintf("set %s%s: start %s (%s)", s.Set, batch, strings.Join(s.Start, ", "), s.Counts)
	case StepWait:
		return fmt.Sprintf("set %s%s: waiting for %d running (%s)", s.Set, batch, len(s.Running), s.Counts)
	case StepPromote:
		return fmt.Sprintf("set %s ended: waiting for applier promote (%s)", s.Set, s.Counts)
	case StepSoak:
		return fmt.Sprintf("set %s ended: soaking until %s (%s)", s.Set, s.Until.UTC().Format(time.RFC3339), s.Counts)
	case StepHalted:
		r := "halted"
		if s.Halt != nil {
			r += ": " + s.Halt.Reason
		}
		if len(s.Running) > 0 {
			r += fmt.Sprintf(" (%d still running)", len(s.Running))
		}
		return r
	case StepComplete:
		return "complete: " + s.Counts.String()
	}
	return string(s.Kind)
}
