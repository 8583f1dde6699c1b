package rollout

import (
	"slices"
)

// cover is the canary cover of the set at index auto: it picks hosts of
// later sets (by stageOf, the planned host's stage) until every group with
// a planned host has one in a stage at or before auto. It is the greedy set
// cover: each round takes the candidate covering the most groups still
// uncovered, the smaller name on a tie, which is within a factor ln(groups)
// of the fewest canaries and deterministic. It also returns, sorted, the
// groups with no planned host, which nothing can cover.
func cover(auto int, sets []SetConfig, stageOf map[string]int, groups map[string][]string) (picks []Pick, unreachable []string) {
	ids := make([]string, 0, len(groups))
	for id := range groups {
		ids = append(ids, id)
	}
	slices.Sort(ids)

	needs := map[string][]string{} // candidate host → uncovered groups it is in
	left := map[string]bool{}      // uncovered groups
	for _, id := range ids {
		planned, covered := false, false
		for _, h := range groups[id] {
			if i, ok := stageOf[h]; ok {
				planned = true
				covered = covered || i <= auto
			}
		}
		switch {
		case !planned:
			unreachable = append(unreachable, id)
		case !covered:
			left[id] = true
			for _, h := range groups[id] {
				if _, ok := stageOf[h]; ok && !slices.Contains(needs[h], id) {
					needs[h] = append(needs[h], id)
				}
			}
		}
	}

	candidates := make([]string, 0, len(needs))
	for h := range needs {
		candidates = append(candidates, h)
	}
	slices.Sort(candidates)
	for len(left) > 0 {
		best, bestN := "", 0
		for _, h := range candidates {
			n := 0
			for _, id := range needs[h] {
				if left[id] {
					n++
				}
			}
			if n > bestN { // strictly more: the first (smallest) name wins a tie
				best, bestN = h, n
			}
		}
		if bestN == 0 {
			break // cannot happen: every group left has a planned host after auto
		}
		var got []string
		for _, id := range needs[best] {
			if left[id] {
				got = append(got, id)
				delete(left, id)
			}
		}
		slices.Sort(got)
		picks = append(picks, Pick{Host: best, From: sets[stageOf[best]].Name, Groups: got})
		delete(needs, best)
		candidates = slices.DeleteFunc(candidates, func(h string) bool { return h == best })
	}
	return picks, unreachable
}
