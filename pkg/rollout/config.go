package rollout

import (
	"bytes"
	"errors"
	"fmt"
	"path"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
)

// Config is how a rollout goes: the apply_sets in order and the limits that
// hold across them. It is part of the applier's YAML configuration (embed
// it inline or decode it with ParseConfig) and is kept in the plan.
type Config struct {
	// Concurrency is the fleet-wide cap on hosts applying at once; 0 is no
	// cap. Every batch is also cut to it.
	Concurrency int `yaml:"concurrency,omitempty" json:"concurrency,omitempty" msgpack:"concurrency"`
	// FailureBudget is the failures allowed across all sets (a count, or a
	// percentage of all planned hosts, rounded down); the rollout halts
	// when failed hosts exceed it. Unset is no global budget (each set's
	// max_failures still holds); "0" halts at the first failure anywhere.
	FailureBudget Amount `yaml:"failure_budget,omitempty" json:"failure_budget,omitzero" msgpack:"failure_budget"`
	// ApplySets are applied in order; a host belongs to the first set that
	// names it.
	ApplySets []SetConfig `yaml:"apply_sets" json:"apply_sets" msgpack:"apply_sets"`
}

// SetConfig is one apply set.
type SetConfig struct {
	// Name names the set in events, status and `applier promote`: letters,
	// digits, '.', '_' and '-', starting with a letter or digit; unique.
	Name string `yaml:"name" json:"name" msgpack:"name"`
	// Hosts are patterns: a glob (path.Match: '*', '?', '[a-z]'), or a
	// regular expression between slashes, matched as written (/web/
	// matches any name containing "web"; anchor it with ^ and $).
	// Matching is case-sensitive; balcony's host names are lower-case.
	Hosts []string `yaml:"hosts,omitempty" json:"hosts,omitempty" msgpack:"hosts"`
	// Command is an argv (never run through a shell) whose standard output
	// lists host names, one a line; the applier runs it and passes the
	// names in Input.Listed. A host is in the set when a pattern matches it
	// or the command lists it.
	Command []string `yaml:"command,omitempty" json:"command,omitempty" msgpack:"command"`
	// Canaries is "auto" or empty: see CanariesAuto.
	Canaries string `yaml:"canaries,omitempty" json:"canaries,omitempty" msgpack:"canaries"`
	// Batch is how many of the set's hosts apply together (a count or a
	// percentage of the set's hosts, rounded up, at least 1); the next
	// batch starts when every host of the previous one has ended. Unset is
	// the whole set in one batch. Cut to Config.Concurrency.
	Batch Amount `yaml:"batch,omitempty" json:"batch,omitzero" msgpack:"batch"`
	// MaxFailures is the failures the set allows (a count or a percentage
	// of the set's hosts, rounded down); the rollout halts when the set's
	// failed hosts exceed it. Unset is 0: the first failure halts.
	MaxFailures Amount `yaml:"max_failures,omitempty" json:"max_failures,omitzero" msgpack:"max_failures"`
	// Then is the gate before the next set (see Gate); not allowed on the
	// last set, which has no next set to hold.
	Then Gate `yaml:"then,omitempty" json:"then,omitzero" msgpack:"then"`
}

// CanariesAuto, as a set's `canaries`, makes the set a canary cover: hosts
// of later sets move into it until every change group of the range that
// has a planned host is applied in it or in an earlier set (see NewPlan). At
// most one set may have it.
const CanariesAuto = "auto"

// DefaultConfig is the rollout used when the applier's configuration has
// no apply_sets:
//
//	concurrency: 50
//	failure_budget: 5%
//	apply_sets:
//	  - name: canaries      # one host per change group, picked by the cover
//	    canaries: auto
//	    batch: 1            # one at a time
//	    max_failures: 0     # the first failure halts
//	    then: promote       # an operator looks before the rest
//	  - name: all
//	    hosts: ["*"]
//	    batch: 10%
//	    max_failures: 5%
//
// Fields left out of a configuration that has apply_sets are not filled
// from it: each field's own zero value holds (see Config and SetConfig).
func DefaultConfig() Config {
	return Config{
		Concurrency:   50,
		FailureBudget: Percent(5),
		ApplySets: []SetConfig{
			{Name: "canaries", Canaries: CanariesAuto, Batch: Count(1), MaxFailures: Count(0), Then: PromoteGate()},
			{Name: "all", Hosts: []string{"*"}, Batch: Percent(10), MaxFailures: Percent(5)},
		},
	}
}

// ParseConfig decodes a rollout configuration from YAML, refusing unknown
// fields (a misspelt max_failures must not silently allow nothing), and
// validates it.
func ParseConfig(data []byte) (Config, error) {
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return Config{}, fmt.Errorf("rollout config: %w", err)
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// ErrInvalidConfig is wrapped by every error of Config.Validate.
var ErrInvalidConfig = errors.New("invalid rollout config")

var setNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// Validate checks the whole configuration and reports every problem, each
// naming the set and the field, joined into one error wrapping
// ErrInvalidConfig; nil when it is valid.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf(format, args...))
	}
	if c.Concurrency < 0 {
		bad("concurrency: %d is negative (0 is no cap)", c.Concurrency)
	}
	if err := checkAllowance(c.FailureBudget); err != nil {
		bad("failure_budget: %v", err)
	}
	if len(c.ApplySets) == 0 {
		bad("apply_sets: no set")
	}
	seen := map[string]int{}
	auto := ""
	for i, s := range c.ApplySets {
		where := fmt.Sprintf("apply_sets[%d]", i)
		switch {
		case s.Name == "":
			bad("%s: name is empty", where)
		case !setNameRE.MatchString(s.Name):
			bad("%s: name %q: use letters, digits, '.', '_' and '-', starting with a letter or digit", where, s.Name)
		default:
			where = fmt.Sprintf("set %q", s.Name)
			if j, dup := seen[s.Name]; dup {
				bad("%s: name already used by apply_sets[%d]", where, j)
			}
			seen[s.Name] = i
		}
		if len(s.Hosts) == 0 && len(s.Command) == 0 && s.Canaries != CanariesAuto {
			bad("%s: names no host: give hosts, a command or canaries: auto", where)
		}
		for _, p := range s.Hosts {
			if _, err := compilePattern(p); err != nil {
				bad("%s: hosts: %v", where, err)
			}
		}
		if len(s.Command) > 0 && strings.TrimSpace(s.Command[0]) == "" {
			bad("%s: command: the program (first word) is empty", where)
		}
		switch s.Canaries {
		case "":
		case CanariesAuto:
			if auto != "" {
				bad("%s: canaries: auto is already on set %q (at most one set)", where, auto)
			} else {
				auto = s.Name
			}
		default:
			bad("%s: canaries: %q: the only value is %q", where, s.Canaries, CanariesAuto)
		}
		if err := checkBatch(s.Batch); err != nil {
			bad("%s: batch: %v", where, err)
		}
		if err := checkAllowance(s.MaxFailures); err != nil {
			bad("%s: max_failures: %v", where, err)
		}
		if _, err := s.Then.parse(); err != nil {
			bad("%s: then: %v", where, err)
		} else if s.Then.IsSet() && i == len(c.ApplySets)-1 {
			bad("%s: then: %q on the last set: there is no next set to hold", where, s.Then)
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrInvalidConfig, errors.Join(errs...))
}

// checkBatch accepts an unset batch, a count of at least 1 or a percentage
// above 0.
func checkBatch(a Amount) error {
	v, pct, err := a.parse()
	switch {
	case err != nil:
		return err
	case !a.IsSet():
		return nil
	case v == 0 && pct:
		return fmt.Errorf("%q: a batch is more than 0%%", a)
	case v == 0:
		return fmt.Errorf("%q: a batch is at least 1 host (omit it for the whole set)", a)
	}
	return nil
}

// checkAllowance accepts any well-formed amount: 0 and 0% mean no failure
// is allowed.
func checkAllowance(a Amount) error {
	_, _, err := a.parse()
	return err
}

// pattern matches host names: a glob or a /regular expression/.
type pattern func(host string) bool

// compilePattern reads a hosts entry; the error quotes it.
func compilePattern(p string) (pattern, error) {
	if p == "" {
		return nil, errors.New(`empty pattern (use "*" for every host)`)
	}
	if len(p) >= 2 && strings.HasPrefix(p, "/") && strings.HasSuffix(p, "/") {
		re, err := regexp.Compile(p[1 : len(p)-1])
		if err != nil {
			return nil, fmt.Errorf("%q: %w", p, err)
		}
		if p == "//" {
			return nil, fmt.Errorf("%q: empty regular expression", p)
		}
		return re.MatchString, nil
	}
	if _, err := path.Match(p, ""); err != nil {
		return nil, fmt.Errorf("%q: %w", p, err)
	}
	return func(host string) bool {
		ok, _ := path.Match(p, host)
		return ok
	}, nil
}
