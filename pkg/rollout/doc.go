// Package rollout plans a staged apply and says, step by step, what to do
// next. It is pure: no I/O, no bus, no clock (the caller passes the time),
// no randomness; the same inputs always give the same plan and the same
// step. docs/rollout.md describes the configuration for operators.
//
// # Planning
//
// A Config (the applier's apply_sets, concurrency and failure_budget; see
// ParseConfig, DefaultConfig and Config.Validate) and an Input (the hosts
// to apply, the host lists the sets' commands printed, the range's change
// groups) give a Plan (NewPlan): one Stage per set with its hosts in
// batches, its allowance of failures in hosts and its gate, the global
// budget in hosts, the hosts no set names, and for a canaries: auto set
// which hosts the canary cover moved into it and why (Stage.Picks).
//
// # Running
//
// A Progress is the state of one rollout of one Plan. The applier keeps the
// Plan and the Progress together in its rollout bucket (both are msgpack
// records with a tag on every field; it adds its own schema version and
// target revision around them) and:
//
//  1. at the start: plan, p := NewProgress(&plan), persist both;
//  2. on every tick, after a restart, and after every transition:
//     step := p.Next(&plan, now); if step.Changed, persist p (compare-and-
//     set) and then announce step.Notes (each Note.Key is stable: use it
//     in Nats-Msg-Id); then act on step.Kind:
//     - StepStart: for each host of step.Start, check it (lock, Puppet
//     disabled or running): p.Skip(&plan, host, why, now); otherwise pick
//     a new run id, p.Start(&plan, host, runID, now), PERSIST, and only
//     then send the run. A host found Running after a restart is asked
//     again with its recorded RunID (the agent runs an id once), never
//     with a new one unless that run expired unapplied;
//     - StepWait, StepPromote, StepSoak, StepHalted: wait for the results
//     of step.Running (and, for a soak, until step.Until);
//     - StepComplete: done;
//  3. on a run's result: p.Finish(&plan, host, runID, Done|Failed|Skipped,
//     reason, now) (Failed also when reconciliation finds a change nobody
//     approved; reason says which); ErrStaleRun means the result is of an
//     older run: ignore it;
//  4. on the operator's verbs: p.Promote, p.Halt, p.Resume.
//
// Each call changes the Progress in memory only; persisting it is the
// applier's job, and it must persist after Start and before sending the
// run, so a crash never leaves a host applied without a record of its run.
//
// # Semantics
//
// A batch starts only when every host of the previous batch (and set) has
// ended; no more hosts run at once than the concurrency cap. A host
// Skipped (locked, Puppet disabled or running) does not count as failed.
// A set halts the rollout when its failed hosts exceed its allowance; all
// sets together halt it when their failed hosts exceed the budget; the
// halt reason names each threshold exceeded, its failed hosts and their
// reasons. A halted rollout starts nothing until an operator resumes it
// (see Progress.Resume: failures are acknowledged, skipped hosts tried
// again). A gate (promote or soak) holds the next set once a set has
// ended. See Amount for how percentages round.
//
// Size: the Plan lists every planned host and the Progress every host that
// has started; for very large fleets the applier may keep Progress.Hosts
// one key per host.
package rollout
