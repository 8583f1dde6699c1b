package rollout_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"gopkg.in/yaml.v3"

	"github.com/balcony-dev/balcony/pkg/rollout"
)

// exampleYAML is the configuration of docs/rollout.md.
const exampleYAML = `
concurrency: 50
failure_budget: 5%
apply_sets:
  - name: canaries
    hosts: ["canary-*.example.com", "/^web0[12]\\./"]
    command: ["/usr/local/bin/list-canaries", "--dc", "x"]
    canaries: auto
    batch: 1
    max_failures: 0
    then: promote
  - name: all
    hosts: ["*"]
    batch: 10%
    max_failures: 5%
`

func TestParseConfig(t *testing.T) {
	got, err := rollout.ParseConfig([]byte(exampleYAML))
	if err != nil {
		t.Fatal(err)
	}
	want := rollout.Config{
		Concurrency:   50,
		FailureBudget: rollout.Percent(5),
		ApplySets: []rollout.SetConfig{
			{
				Name: "canaries", Hosts: []string{"canary-*.example.com", `/^web0[12]\./`},
				Command: []string{"/usr/local/bin/list-canaries", "--dc", "x"}, Canaries: rollout.CanariesAuto,
				Batch: rollout.Count(1), MaxFailures: rollout.Count(0), Then: rollout.PromoteGate(),
			},
			{Name: "all", Hosts: []string{"*"}, Batch: rollout.Percent(10), MaxFailures: rollout.Percent(5)},
		},
	}
	if d := cmp.Diff(want, got, cmp.AllowUnexported(rollout.Amount{}, rollout.Gate{})); d != "" {
		t.Errorf("parsed config (-want +got):\n%s", d)
	}
	// The config round-trips through YAML and JSON as written.
	for name, enc := range map[string]struct {
		marshal   func(any) ([]byte, error)
		unmarshal func([]byte, any) error
	}{"yaml": {yaml.Marshal, yaml.Unmarshal}, "json": {json.Marshal, json.Unmarshal}} {
		data, err := enc.marshal(got)
		if err != nil {
			t.Fatal(err)
		}
		var back rollout.Config
		if err := enc.unmarshal(data, &back); err != nil {
			t.Fatalf("%s: %v\n%s", name, err, data)
		}
		if d := cmp.Diff(got, back, cmp.AllowUnexported(rollout.Amount{}, rollout.Gate{})); d != "" {
			t.Errorf("%s round trip (-before +after):\n%s\n%s", name, d, data)
		}
		if !strings.Contains(string(data), "10%") || !strings.Contains(string(data), "promote") {
			t.Errorf("%s does not write amounts and gates as text:\n%s", name, data)
		}
	}
}

func TestDefaultConfig(t *testing.T) {
	c := rollout.DefaultConfig()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	canaries, all := c.ApplySets[0], c.ApplySets[1]
	if canaries.Canaries != rollout.CanariesAuto || !canaries.Then.Promote() || canaries.Batch.BatchOf(10) != 1 ||
		canaries.MaxFailures.AllowanceOf(10) != 0 {
		t.Errorf("default canaries: %+v", canaries)
	}
	if all.Batch.BatchOf(100) != 10 || all.MaxFailures.AllowanceOf(100) != 5 || all.Then.IsSet() {
		t.Errorf("default all: %+v", all)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		yaml string
		errs []string // each must appear in the error
	}{
		{"no set", "concurrency: 3\n", []string{"apply_sets: no set"}},
		{"negative concurrency", "concurrency: -1\napply_sets: [{name: a, hosts: ['*']}]", []string{"concurrency: -1 is negative"}},
		{"bad budget", "failure_budget: lots\napply_sets: [{name: a, hosts: ['*']}]", []string{`failure_budget: "lots": want a count`}},
		{"empty name", "apply_sets: [{hosts: ['*']}]", []string{"apply_sets[0]: name is empty"}},
		{"bad name", "apply_sets: [{name: 'two words', hosts: ['*']}]", []string{`apply_sets[0]: name "two words"`}},
		{"duplicate name", "apply_sets: [{name: a, hosts: [x], then: promote}, {name: a, hosts: ['*']}]",
			[]string{`set "a": name already used by apply_sets[0]`}},
		{"no hosts", "apply_sets: [{name: a}]", []string{`set "a": names no host`}},
		{"bad glob", "apply_sets: [{name: a, hosts: ['web[']}]", []string{`set "a": hosts: "web[": syntax error in pattern`}},
		{"bad regex", "apply_sets: [{name: a, hosts: ['/web(/']}]", []string{`set "a": hosts: "/web(/": error parsing regexp`}},
		{"empty regex", "apply_sets: [{name: a, hosts: ['//']}]", []string{`set "a": hosts: "//": empty regular expression`}},
		{"empty pattern", "apply_sets: [{name: a, hosts: ['']}]", []string{`set "a": hosts: empty pattern`}},
		{"empty command", "apply_sets: [{name: a, command: ['']}]", []string{`set "a": command: the program`}},
		{"two auto", "apply_sets: [{name: a, canaries: auto}, {name: b, canaries: auto}, {name: c, hosts: ['*']}]",
			[]string{`set "b": canaries: auto is already on set "a"`}},
		{"bad canaries", "apply_sets: [{name: a, hosts: [x], canaries: yes}]", []string{`set "a": canaries: "yes": the only value is "auto"`}},
		{"zero batch", "apply_sets: [{name: a, hosts: ['*'], batch: 0}]", []string{`set "a": batch: "0": a batch is at least 1 host`}},
		{"zero percent batch", "apply_sets: [{name: a, hosts: ['*'], batch: 0%}]", []string{`set "a": batch: "0%": a batch is more than 0%`}},
		{"bad batch", "apply_sets: [{name: a, hosts: ['*'], batch: 10x}]", []string{`set "a": batch: "10x": want a count`}},
		{"big percent", "apply_sets: [{name: a, hosts: ['*'], max_failures: 150%}]", []string{`set "a": max_failures: "150%": a percentage is at most 100%`}},
		{"bad gate", "apply_sets: [{name: a, hosts: [x], then: wait}, {name: b, hosts: ['*']}]", []string{`set "a": then: "wait": want "promote" or "soak <time>"`}},
		{"soak without time", "apply_sets: [{name: a, hosts: [x], then: soak}, {name: b, hosts: ['*']}]", []string{`set "a": then: "soak": give a time`}},
		{"bad soak", "apply_sets: [{name: a, hosts: [x], then: soak 10}, {name: b, hosts: ['*']}]", []string{`set "a": then: "soak 10": time: missing unit`}},
		{"negative soak", "apply_sets: [{name: a, hosts: [x], then: soak -1m}, {name: b, hosts: ['*']}]", []string{`a soak time must be positive`}},
		{"gate on last set", "apply_sets: [{name: a, hosts: ['*'], then: promote}]", []string{`set "a": then: "promote" on the last set`}},
		{"every problem at once", "concurrency: -2\napply_sets: [{name: a, batch: x}, {name: a, hosts: ['[']}]",
			[]string{"concurrency: -2", `set "a": names no host`, `set "a": batch: "x"`, `name already used`, `hosts: "["`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := rollout.ParseConfig([]byte(tc.yaml))
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, rollout.ErrInvalidConfig) {
				t.Errorf("%v does not wrap ErrInvalidConfig", err)
			}
			for _, want := range tc.errs {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
		})
	}
}

func TestParseConfigUnknownField(t *testing.T) {
	_, err := rollout.ParseConfig([]byte("apply_sets: [{name: a, hosts: ['*'], max_failure: 3}]"))
	if err == nil || !strings.Contains(err.Error(), "max_failure") {
		t.Errorf("a misspelt field gives %v", err)
	}
}

func TestSoakConfig(t *testing.T) {
	c, err := rollout.ParseConfig([]byte("apply_sets: [{name: a, hosts: [x], then: soak 10m}, {name: b, hosts: ['*']}]"))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.ApplySets[0].Then.Soak(); got != 10*time.Minute {
		t.Errorf("soak = %v", got)
	}
}
