package rollout_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/balcony-dev/balcony/pkg/rollout"
)

func TestCanaryCover(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  string
		in   rollout.Input
		want string // Plan.Text()
	}{
		{
			name: "greedy: the host covering the most groups first, the smaller name on a tie",
			cfg: `
apply_sets:
  - {name: canaries, canaries: auto, batch: 1, then: promote}
  - {name: all, hosts: ["*"], batch: 10%, max_failures: 25%}
`,
			in: rollout.Input{
				Hosts: []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"},
				Groups: map[string][]string{
					"g1": {"a", "b"},
					"g2": {"b", "c"}, // b and c both cover 2: b wins the tie
					"g3": {"c"},
					"g4": {"e", "d"}, // d and e cover 1 each: d
				},
			},
			// The canaries are their own stage: they leave "all", whose batch
			// (10% of 7, up to 1) and allowance (25% of 7, down to 1) count
			// what is left.
			want: `10 hosts in 2 sets; no concurrency cap; no failure budget
set canaries (canaries: auto): 3 hosts, 3 batches of 1, max_failures 0 = 0 hosts, then promote
  batch 1: b
  batch 2: c
  batch 3: d
  canary b (from set all) covers g1 g2
  canary c (from set all) covers g3
  canary d (from set all) covers g4
set all: 7 hosts, 7 batches of 1, max_failures 25% = 1 host
  batch 1: a
  batch 2: e
  batch 3: f
  batch 4: g
  batch 5: h
  batch 6: i
  batch 7: j
`,
		},
		{
			name: "greedy beats first-come: one host covering three groups is picked before three covering one",
			cfg: `
apply_sets:
  - {name: canaries, canaries: auto, batch: 1, then: promote}
  - {name: all, hosts: ["*"]}
`,
			in: rollout.Input{
				Hosts:  []string{"a", "b", "c", "z"},
				Groups: map[string][]string{"g1": {"a", "z"}, "g2": {"b", "z"}, "g3": {"c", "z"}},
			},
			want: `4 hosts in 2 sets; no concurrency cap; no failure budget
set canaries (canaries: auto): 1 host, 1 batch of 1, max_failures 0 = 0 hosts, then promote
  batch 1: z
  canary z (from set all) covers g1 g2 g3
set all: 3 hosts, 1 batch of 3, max_failures 0 = 0 hosts
  batch 1: a b c
`,
		},
		{
			name: "groups already covered by the set's own hosts or an earlier set's need no pick; groups with no planned host are listed",
			cfg: `
apply_sets:
  - {name: first, hosts: ["first-*"], then: promote}
  - {name: canaries, hosts: ["canary-*"], canaries: auto, batch: 1, then: soak 5m}
  - {name: web, hosts: ["web-*"], batch: 50%}
  - {name: db, hosts: ["db-*"]}
`,
			in: rollout.Input{
				Hosts: []string{"first-1", "canary-1", "web-1", "web-2", "db-1", "db-2", "other-1"},
				Groups: map[string][]string{
					"covered-by-first":    {"first-1", "web-1"},
					"covered-by-canaries": {"canary-1", "db-1"},
					"needs-web":           {"web-2"},
					"needs-db":            {"db-2", "db-1"},
					"unplanned-only":      {"other-1"},         // no set names other-1
					"not-to-apply":        {"elsewhere-1"},     // a host that needs nothing
					"empty":               nil,                 // no host at all
					"mixed":               {"other-1", "db-2"}, // covered by the db-2 pick
				},
			},
			want: `6 hosts in 4 sets; no concurrency cap; no failure budget
set first: 1 host, 1 batch of 1, max_failures 0 = 0 hosts, then promote
  batch 1: first-1
set canaries (canaries: auto): 3 hosts, 3 batches of 1, max_failures 0 = 0 hosts, then soak 5m
  batch 1: canary-1
  batch 2: db-2
  batch 3: web-2
  canary db-2 (from set db) covers mixed needs-db
  canary web-2 (from set web) covers needs-web
set web: 1 host, 1 batch of 1, max_failures 0 = 0 hosts
  batch 1: web-1
set db: 1 host, 1 batch of 1, max_failures 0 = 0 hosts
  batch 1: db-1
not applied, no set names them: other-1
change groups no planned host has: empty not-to-apply unplanned-only
`,
		},
		{
			name: "no change group: the canary set keeps its own hosts, or is empty and skipped with its gate",
			cfg: `
apply_sets:
  - {name: canaries, canaries: auto, then: promote}
  - {name: all, hosts: ["*"]}
`,
			in: rollout.Input{Hosts: []string{"a", "b"}},
			want: `2 hosts in 2 sets; no concurrency cap; no failure budget
set canaries (canaries: auto): no host, skipped
set all: 2 hosts, 1 batch of 2, max_failures 0 = 0 hosts
  batch 1: a b
`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := rollout.NewPlan(mustConfig(t, tc.cfg), tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, p.Text()); d != "" {
				t.Errorf("plan (-want +got):\n%s", d)
			}
		})
	}
}

// TestCanaryCoverComplete checks the cover's promise on a larger fleet:
// every group with a planned host has one in the canary stage, and no
// canary is also in a later stage.
func TestCanaryCoverComplete(t *testing.T) {
	all := hosts("h", 200)
	groups := map[string][]string{}
	for g := range 40 {
		var hs []string
		for i := g; i < len(all); i += 7 + g { // overlapping strides
			hs = append(hs, all[i])
		}
		groups[string(rune('A'+g%26))+string(rune('a'+g/26))] = hs
	}
	p, err := rollout.NewPlan(rollout.DefaultConfig(), rollout.Input{Hosts: all, Groups: groups})
	if err != nil {
		t.Fatal(err)
	}
	canaries := map[string]bool{}
	for _, h := range p.Stages[0].Hosts() {
		canaries[h] = true
	}
	for id, hs := range groups {
		covered := false
		for _, h := range hs {
			covered = covered || canaries[h]
		}
		if !covered {
			t.Errorf("group %s has no canary", id)
		}
	}
	for _, h := range p.Stages[1].Hosts() {
		if canaries[h] {
			t.Errorf("%s is a canary and in set all", h)
		}
	}
	if n := len(p.Stages[0].Hosts()) + len(p.Stages[1].Hosts()); n != len(all) {
		t.Errorf("%d hosts planned, want %d", n, len(all))
	}
	if len(canaries) >= len(groups) {
		t.Errorf("%d canaries for %d overlapping groups: the cover is not greedy", len(canaries), len(groups))
	}
}
