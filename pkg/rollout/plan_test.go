package rollout_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/balcony-dev/balcony/pkg/rollout"
)

// hosts are n host names "<prefix>NN.example.com", from 01.
func hosts(prefix string, n int) []string {
	var out []string
	for i := 1; i <= n; i++ {
		out = append(out, fmt.Sprintf("%s%02d.example.com", prefix, i))
	}
	return out
}

func mustConfig(t *testing.T, y string) rollout.Config {
	t.Helper()
	c, err := rollout.ParseConfig([]byte(y))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestNewPlan(t *testing.T) {
	cases := []struct {
		name string
		cfg  string
		in   rollout.Input
		want string
	}{
		{
			name: "globs, regexes and commands; the first set that names a host wins",
			cfg: `
apply_sets:
  - name: canaries
    hosts: ["canary-*.example.com", "/^web0[12]\\./"]
    command: [list-canaries]
    then: promote
  - name: web
    hosts: ["/web/"]
    command: [list-web]
  - name: db
    hosts: ["db-?.example.com"]
`,
			in: rollout.Input{
				Hosts: []string{"web02.example.com", "canary-1.example.com", "web01.example.com", "web03.example.com",
					"myweb.example.com", "db-1.example.com", "db-10.example.com", "cache.example.com", "lonely.example.com",
					"web01.example.com"}, // unsorted, a duplicate
				Listed: map[string][]string{
					// A host of the fleet, and one that needs nothing (ignored).
					"canaries": {"cache.example.com", "gone.example.com"},
					// db-1 is listed (with blanks) by web, an earlier set than db.
					"web": {"  db-1.example.com "},
				},
			},
			want: `7 hosts in 3 sets; no concurrency cap; no failure budget
set canaries: 4 hosts, 1 batch of 4, max_failures 0 = 0 hosts, then promote
  batch 1: cache.example.com canary-1.example.com web01.example.com web02.example.com
set web: 3 hosts, 1 batch of 3, max_failures 0 = 0 hosts
  batch 1: db-1.example.com myweb.example.com web03.example.com
set db: no host, skipped
not applied, no set names them: db-10.example.com lonely.example.com
`,
		},
		{
			name: "percentages: batches round up, allowances down; the concurrency cap cuts batches; the budget counts all sets",
			cfg: `
concurrency: 4
failure_budget: 10%
apply_sets:
  - name: first
    hosts: ["a*"]
    batch: 34%
    max_failures: 34%
    then: soak 10m
  - name: second
    hosts: ["b*"]
    batch: 50%
    max_failures: 2
`,
			in: rollout.Input{Hosts: append(hosts("a", 3), hosts("b", 15)...)},
			want: "18 hosts in 2 sets; concurrency 4; failure budget 10% = 1 host\n" +
				"set first: 3 hosts, 2 batches of 2, max_failures 34% = 1 host, then soak 10m\n" +
				"  batch 1: a01.example.com a02.example.com\n" +
				"  batch 2: a03.example.com\n" +
				// 50% of 15 is 7.5, rounded up to 8, cut to the cap of 4.
				"set second: 15 hosts, 4 batches of 4, max_failures 2 = 2 hosts\n" +
				"  batch 1: b01.example.com b02.example.com b03.example.com b04.example.com\n" +
				"  batch 2: b05.example.com b06.example.com b07.example.com b08.example.com\n" +
				"  batch 3: b09.example.com b10.example.com b11.example.com b12.example.com\n" +
				"  batch 4: b13.example.com b14.example.com b15.example.com\n",
		},
		{
			name: "a gate before empty sets only, and the gate of an empty set, are dropped",
			cfg: `
failure_budget: 0
apply_sets:
  - name: none
    hosts: ["nothing-*"]
    then: promote
  - name: all
    hosts: ["*"]
    batch: 1
    then: promote
  - name: late
    hosts: ["z*"]
`,
			in: rollout.Input{Hosts: []string{"a.example.com", "b.example.com"}},
			want: `2 hosts in 3 sets; no concurrency cap; failure budget 0 = 0 hosts
set none: no host, skipped
set all: 2 hosts, 2 batches of 1, max_failures 0 = 0 hosts
  batch 1: a.example.com
  batch 2: b.example.com
set late: no host, skipped
`,
		},
		{
			name: "no host at all",
			cfg:  "apply_sets: [{name: all, hosts: ['*']}]",
			in:   rollout.Input{},
			want: "0 hosts in 1 set; no concurrency cap; no failure budget\nset all: no host, skipped\n",
		},
	}
	for _, tc := range cases {
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

func TestNewPlanErrors(t *testing.T) {
	cfg := mustConfig(t, "apply_sets: [{name: listed, command: [list]}, {name: all, hosts: ['*']}]")
	_, err := rollout.NewPlan(cfg, rollout.Input{Hosts: []string{"a"}})
	if err == nil || !strings.Contains(err.Error(), `set "listed" has a command but no host list`) {
		t.Errorf("a command without its output: %v", err)
	}
	// An empty list is an answer: the command printed nothing.
	if _, err := rollout.NewPlan(cfg, rollout.Input{Hosts: []string{"a"}, Listed: map[string][]string{"listed": nil}}); err != nil {
		t.Errorf("an empty list: %v", err)
	}
	cfg.ApplySets[1].Then = rollout.PromoteGate() // on the last set
	if _, err := rollout.NewPlan(cfg, rollout.Input{}); !errors.Is(err, rollout.ErrInvalidConfig) {
		t.Errorf("an invalid config: %v", err)
	}
}

// TestNewPlanDeterministic: the order of the input does not matter.
func TestNewPlanDeterministic(t *testing.T) {
	cfg := rollout.DefaultConfig()
	in := rollout.Input{
		Hosts:  hosts("h", 30),
		Groups: map[string][]string{"g1": hosts("h", 30)[10:20], "g2": hosts("h", 30)[15:25], "g3": hosts("h", 30)[:3]},
	}
	want, err := rollout.NewPlan(cfg, in)
	if err != nil {
		t.Fatal(err)
	}
	rev := in
	rev.Hosts = slices.Clone(in.Hosts)
	slices.Reverse(rev.Hosts)
	rev.Groups = map[string][]string{}
	for id, hs := range in.Groups {
		hs = slices.Clone(hs)
		slices.Reverse(hs)
		rev.Groups[id] = hs
	}
	for range 20 { // map iteration differs run to run
		got, err := rollout.NewPlan(cfg, rev)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(want, got, cmp.AllowUnexported(rollout.Amount{}, rollout.Gate{})); d != "" {
			t.Fatalf("plans differ (-first +reversed):\n%s", d)
		}
	}
}
