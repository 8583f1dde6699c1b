package rollout

import (
	"fmt"
	"strings"
)

// Text renders the plan for people (`applier plan`): the limits, then each
// set with its batches, its allowance, its gate and the canaries the cover
// picked and why, then the hosts no set names. Every host is listed.
func (p Plan) Text() string {
	var b strings.Builder
	limit := "no concurrency cap"
	if p.Config.Concurrency > 0 {
		limit = fmt.Sprintf("concurrency %d", p.Config.Concurrency)
	}
	budget := "no failure budget"
	if p.Budget != NoBudget {
		budget = fmt.Sprintf("failure budget %s = %s", p.Config.FailureBudget, plural(p.Budget, "host"))
	}
	fmt.Fprintf(&b, "%s in %s; %s; %s\n", plural(p.Hosts, "host"), plural(len(p.Stages), "set"), limit, budget)
	for i, st := range p.Stages {
		set := p.Config.ApplySets[i]
		kind := ""
		if st.Canaries {
			kind = " (canaries: auto)"
		}
		n := len(st.Hosts())
		if n == 0 {
			fmt.Fprintf(&b, "set %s%s: no host, skipped\n", st.Set, kind)
			continue
		}
		then := ""
		if st.Gate.IsSet() {
			then = ", then " + st.Gate.String()
		}
		fmt.Fprintf(&b, "set %s%s: %s, %s of %d, max_failures %s = %s%s\n", st.Set, kind, plural(n, "host"),
			plural(len(st.Batches), "batch"), st.BatchSize, amountText(set.MaxFailures), plural(st.Allowance, "host"), then)
		for j, batch := range st.Batches {
			fmt.Fprintf(&b, "  batch %d: %s\n", j+1, strings.Join(batch, " "))
		}
		for _, pk := range st.Picks {
			fmt.Fprintf(&b, "  canary %s (from set %s) covers %s\n", pk.Host, pk.From, strings.Join(pk.Groups, " "))
		}
	}
	if len(p.Unplanned) > 0 {
		fmt.Fprintf(&b, "not applied, no set names them: %s\n", strings.Join(p.Unplanned, " "))
	}
	if len(p.Unreachable) > 0 {
		fmt.Fprintf(&b, "change groups no planned host has: %s\n", strings.Join(p.Unreachable, " "))
	}
	return b.String()
}

// plural is "1 host", "2 hosts", "3 batches".
func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	if strings.HasSuffix(what, "ch") {
		return fmt.Sprintf("%d %ses", n, what)
	}
	return fmt.Sprintf("%d %ss", n, what)
}
