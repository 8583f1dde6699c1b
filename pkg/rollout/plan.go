package rollout

import (
	"fmt"
	"slices"
	"strings"
)

// Input is what a plan is made from; the applier gathers it.
type Input struct {
	// Hosts are the hosts to apply: those with a recorded last applied
	// revision that need the target. Order and duplicates do not matter.
	Hosts []string
	// Listed holds, by set name, the host names each set's command printed
	// (the applier runs the commands). A set with a command must have an
	// entry, even empty; a listed host that is not in Hosts is ignored.
	Listed map[string][]string
	// Groups are the change groups of the range (the approved groups of
	// the commits from the hosts' last applied revisions to the target), by
	// group id, each with the hosts it changes. Only a set with
	// canaries: auto uses them.
	Groups map[string][]string
}

// NoBudget is Plan.Budget when the configuration sets no failure budget.
const NoBudget = -1

// Plan is which hosts are applied in which order, and the limits in hosts.
// It is a pure function of the Config and the Input (NewPlan), stored with the
// rollout (every field has a msgpack tag) and never changed after: the
// state machine reads it.
type Plan struct {
	// Config is the configuration the plan was made from.
	Config Config `json:"config" msgpack:"config"`
	// Stages are the apply sets in order, one stage per configured set
	// (an empty one too, so `applier plan` shows it).
	Stages []Stage `json:"stages" msgpack:"stages"`
	// Hosts is the number of planned hosts, all stages together.
	Hosts int `json:"hosts" msgpack:"hosts"`
	// Budget is the failure budget in hosts: the rollout halts when more
	// hosts than this have failed, all stages together; NoBudget for none.
	Budget int `json:"budget" msgpack:"budget"`
	// Unplanned are the hosts to apply that no set names: they are not
	// applied, and the applier should say so.
	Unplanned []string `json:"unplanned,omitempty" msgpack:"unplanned"`
	// Unreachable are change groups that no planned host has (their hosts
	// are unplanned or need nothing): no canary can cover them.
	Unreachable []string `json:"unreachable,omitempty" msgpack:"unreachable"`
}

// Stage is one apply set as planned.
type Stage struct {
	// Set is the set's name.
	Set string `json:"set" msgpack:"set"`
	// Batches are the set's hosts, sorted by name, cut into batches of
	// BatchSize (the last may be smaller).
	Batches [][]string `json:"batches" msgpack:"batches"`
	// BatchSize is the set's batch, in hosts, cut to the concurrency cap.
	BatchSize int `json:"batch_size" msgpack:"batch_size"`
	// Allowance is the failures the set allows: it halts past it.
	Allowance int `json:"allowance" msgpack:"allowance"`
	// Gate is what the rollout waits for once this stage has ended, before
	// the next stage; none when no later stage has hosts (and none on an
	// empty stage, which is skipped with its gate).
	Gate Gate `json:"gate,omitzero" msgpack:"gate"`
	// Canaries says the set has canaries: auto.
	Canaries bool `json:"canaries,omitempty" msgpack:"canaries"`
	// Picks are the hosts the canary cover moved into this set, in the
	// order picked, each with the groups it covers.
	Picks []Pick `json:"picks,omitempty" msgpack:"picks"`
}

// Pick is a host the canary cover moved into a canaries: auto set.
type Pick struct {
	Host string `json:"host" msgpack:"host"`
	// From is the set the host would have been applied in.
	From string `json:"from" msgpack:"from"`
	// Groups are the change groups no earlier pick or host of this or an
	// earlier set covered, which this host covers; sorted.
	Groups []string `json:"groups" msgpack:"groups"`
}

// Hosts lists the stage's hosts, sorted.
func (s Stage) Hosts() []string {
	var out []string
	for _, b := range s.Batches {
		out = append(out, b...)
	}
	return out
}

// NewPlan plans a rollout:
//
//  1. Each host of in.Hosts goes to the first set that names it (a pattern
//     matches it or the set's command listed it): later sets skip hosts an
//     earlier set took. Hosts no set names are Unplanned.
//  2. A canaries: auto set then covers the change groups: a group that has
//     a planned host but none in this set or an earlier one needs a canary;
//     greedily, the host of a later set that covers the most such groups
//     (ties: the smaller name) moves into the set, until none is left. So
//     every group is applied on a host of the canary stage (or earlier)
//     before the sets after it: canaries are their own stage, never mixed
//     into a later set's batches.
//  3. Each stage's hosts, sorted, are cut into batches of the set's batch
//     (cut to the concurrency cap); its allowance and the global budget are
//     worked out in hosts (see Amount).
//
// The same Config and Input always give the same Plan. It fails, wrapping
// ErrInvalidConfig, when cfg does not validate, and when a set with a
// command has no entry in in.Listed.
func NewPlan(cfg Config, in Input) (Plan, error) {
	if err := cfg.Validate(); err != nil {
		return Plan{}, err
	}
	sets := make([][]pattern, len(cfg.ApplySets))
	for i, s := range cfg.ApplySets {
		for _, p := range s.Hosts {
			m, _ := compilePattern(p) // validated
			sets[i] = append(sets[i], m)
		}
		if len(s.Command) > 0 {
			if _, ok := in.Listed[s.Name]; !ok {
				return Plan{}, fmt.Errorf("plan: set %q has a command but no host list from it", s.Name)
			}
		}
	}
	listed := make([]map[string]bool, len(cfg.ApplySets))
	for i, s := range cfg.ApplySets {
		listed[i] = map[string]bool{}
		for _, h := range in.Listed[s.Name] {
			listed[i][strings.TrimSpace(h)] = true
		}
	}

	hosts := slices.Clone(in.Hosts)
	slices.Sort(hosts)
	hosts = slices.Compact(hosts)

	p := Plan{Config: cfg, Stages: make([]Stage, len(cfg.ApplySets)), Budget: NoBudget}
	stageOf := map[string]int{} // planned host → stage index
	members := make([][]string, len(cfg.ApplySets))
	for _, h := range hosts {
		i := -1
		for j := range sets {
			if listed[j][h] || matchAny(sets[j], h) {
				i = j
				break
			}
		}
		if i < 0 {
			p.Unplanned = append(p.Unplanned, h)
			continue
		}
		stageOf[h] = i
		members[i] = append(members[i], h)
	}
	p.Hosts = len(stageOf)

	for i, s := range cfg.ApplySets {
		if s.Canaries == CanariesAuto {
			p.Stages[i].Picks, p.Unreachable = cover(i, cfg.ApplySets, stageOf, in.Groups)
			for _, pk := range p.Stages[i].Picks {
				members[i] = append(members[i], pk.Host)
				j := slices.Index(members[stageOf[pk.Host]], pk.Host)
				members[stageOf[pk.Host]] = slices.Delete(members[stageOf[pk.Host]], j, j+1)
				stageOf[pk.Host] = i
			}
		}
	}

	for i, s := range cfg.ApplySets {
		st := &p.Stages[i]
		st.Set, st.Canaries = s.Name, s.Canaries == CanariesAuto
		slices.Sort(members[i])
		n := len(members[i])
		st.BatchSize = s.Batch.BatchOf(n)
		if cfg.Concurrency > 0 {
			st.BatchSize = min(st.BatchSize, cfg.Concurrency)
		}
		for b := range slices.Chunk(members[i], max(st.BatchSize, 1)) {
			st.Batches = append(st.Batches, b)
		}
		st.Allowance = s.MaxFailures.AllowanceOf(n)
	}
	// A gate holds the next stage that has hosts; an empty stage is
	// skipped with its gate, and the last stage with hosts has none.
	for i, s := range cfg.ApplySets {
		if len(p.Stages[i].Batches) > 0 && slices.ContainsFunc(p.Stages[i+1:], func(st Stage) bool { return len(st.Batches) > 0 }) {
			p.Stages[i].Gate = s.Then
		}
	}
	if cfg.FailureBudget.IsSet() {
		p.Budget = cfg.FailureBudget.AllowanceOf(p.Hosts)
	}
	return p, nil
}

func matchAny(ps []pattern, host string) bool {
	return slices.ContainsFunc(ps, func(p pattern) bool { return p(host) })
}

// stageOf returns the index of the stage that plans host, or -1.
func (p *Plan) stageOf(host string) int {
	for i, st := range p.Stages {
		for _, b := range st.Batches {
			if _, ok := slices.BinarySearch(b, host); ok {
				return i
			}
		}
	}
	return -1
}
