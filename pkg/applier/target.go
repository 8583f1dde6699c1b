package applier

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"

	"github.com/balcony-dev/balcony/pkg/approver"
	"github.com/balcony-dev/balcony/pkg/protocol"
)

// maxChain bounds the walk down the branch's first-parent chain: a host
// whose last applied revision is further back is reported, not applied.
const maxChain = 1000

// chooseTarget is the index in chain (oldest first) of the newest commit
// such that every commit after the oldest last applied revision, at index
// start, up to it is approved: the approved commits after start, in a row.
// It is -1 when the commit after start is not approved (or there is none).
func chooseTarget(chain []string, start int, approved func(i int) (bool, error)) (int, error) {
	target := -1
	for i := start + 1; i < len(chain); i++ {
		ok, err := approved(i)
		if err != nil {
			return -1, err
		}
		if !ok {
			break
		}
		target = i
	}
	return target, nil
}

// candidate is a rollout the applier could start: its target, range and
// hosts.
type candidate struct {
	target protocol.Commit
	// rng is the commits after the oldest planned host's last applied
	// revision up to target, oldest first, as approved.
	rng []protocol.ApprovedCommit
	// groups are the range's change groups (commit:group id) with their
	// hosts, for the canary cover.
	groups map[string][]string
	// base is the oldest last applied revision: the range starts after it.
	base string
	// from is each host to apply's last applied revision.
	from map[string]string
	// notPlanned are the hosts left out, with why.
	notPlanned map[string]string
	// blocked says why there is no target, when there is none.
	blocked string
}

// firstParents is the branch's first-parent chain from its tip, newest
// first, at most maxChain commits.
func (a *Applier) firstParents() ([]string, error) {
	branches, err := a.opts.Code.Branches()
	if err != nil {
		return nil, fmt.Errorf("read branches: %w", err)
	}
	tip, ok := branches[a.opts.Branch]
	if !ok {
		return nil, fmt.Errorf("the repository has no branch %s", a.opts.Branch)
	}
	var chain []string
	for sha := tip; sha != "" && len(chain) < maxChain; {
		chain = append(chain, sha)
		c, err := a.opts.Code.Commit(sha)
		if err != nil {
			return nil, fmt.Errorf("read commit %s: %w", protocol.Short(sha), err)
		}
		sha = ""
		if len(c.Parents) > 0 {
			sha = c.Parents[0]
		}
	}
	return chain, nil
}

// candidate works out what to apply now: the hosts with a recorded last
// applied revision on the branch, the target their ranges allow, and the
// range's approved groups.
func (a *Applier) candidate(ctx context.Context) (*candidate, error) {
	newestFirst, err := a.firstParents()
	if err != nil {
		return nil, err
	}
	chain := slices.Clone(newestFirst)
	slices.Reverse(chain)
	index := make(map[string]int, len(chain))
	for i, sha := range chain {
		index[sha] = i
	}
	hosts, err := a.hostRecords(ctx)
	if err != nil {
		return nil, err
	}
	c := &candidate{from: map[string]string{}, notPlanned: map[string]string{}, groups: map[string][]string{}}
	start := len(chain)
	last := map[string]int{}
	for _, h := range hosts {
		switch i, ok := index[h.LastApplied]; {
		case h.LastApplied == "":
			c.notPlanned[h.Host] = "no last applied revision recorded: record one with `applier baseline <rev> " + h.Host + "`"
		case !ok:
			c.notPlanned[h.Host] = fmt.Sprintf("its last applied revision %s is not on the first-parent chain of %s (within %d commits)", protocol.Short(h.LastApplied), a.opts.Branch, maxChain)
		default:
			last[h.Host] = i
			start = min(start, i)
		}
	}
	if len(last) == 0 {
		c.blocked = "no host has a last applied revision on the branch"
		return c, nil
	}
	statuses := map[int]*approver.StatusReply{}
	target, err := chooseTarget(chain, start, func(i int) (bool, error) {
		st, err := a.opts.Approvals.Status(ctx, chain[i])
		if errors.Is(err, approver.ErrNoRecord) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("approval of %s: %w", protocol.Short(chain[i]), err)
		}
		statuses[i] = st
		return st.Ready && st.Approved, nil
	})
	if err != nil {
		return nil, err
	}
	if target < 0 {
		if start == len(chain)-1 {
			c.blocked = "every host is at the branch's tip"
		} else {
			c.blocked = fmt.Sprintf("%s, the first commit after the oldest last applied revision %s, is not approved", protocol.Short(chain[start+1]), protocol.Short(chain[start]))
		}
		return c, nil
	}
	tc, err := a.opts.Code.Commit(chain[target])
	if err != nil {
		return nil, err
	}
	c.target, c.base = tc, chain[start]
	for i := start + 1; i <= target; i++ {
		st := statuses[i]
		ac := protocol.ApprovedCommit{SHA: chain[i], Groups: map[string]string{}}
		for _, g := range st.Groups {
			ac.Groups[g.ID] = g.Digest
			key := protocol.Short(chain[i]) + ":" + g.ID
			c.groups[key] = append(c.groups[key], g.Hosts...)
		}
		c.rng = append(c.rng, ac)
	}
	names := make([]string, 0, len(last))
	for h := range last {
		names = append(names, h)
	}
	sort.Strings(names)
	for _, h := range names {
		switch i := last[h]; {
		case i < target:
			c.from[h] = chain[i]
		case i > target:
			c.notPlanned[h] = fmt.Sprintf("already at %s, after the target %s", protocol.Short(chain[i]), protocol.Short(chain[target]))
		}
	}
	return c, nil
}

// rangeFor is the part of r's range a host whose last applied revision is
// from applies: the commits after from. ok is false when from is neither
// the range's base nor one of its commits (it changed since planning).
func rangeFor(r *Rollout, from string) ([]protocol.ApprovedCommit, bool) {
	if len(r.Range) == 0 {
		return nil, false
	}
	if from == r.Base {
		return r.Range, true
	}
	for i, c := range r.Range {
		if c.SHA == from {
			return r.Range[i+1:], true
		}
	}
	return nil, false
}
