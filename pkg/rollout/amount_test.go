package rollout_test

import (
	"strings"
	"testing"
	"time"

	"github.com/balcony-dev/balcony/pkg/rollout"
)

func TestAmountRounding(t *testing.T) {
	for _, tc := range []struct {
		amount           string
		n                int
		batch, allowance int
	}{
		{"", 7, 7, 0},                       // unset: whole set, no failure allowed
		{"3", 7, 3, 3},                      // a count as is
		{"10", 7, 7, 10},                    // a batch never exceeds the set; an allowance may
		{"0", 7, 1, 0},                      // at least 1 (Validate refuses a 0 batch)
		{"10%", 15, 2, 1},                   // 1.5 hosts: batch up, allowance down
		{"10%", 10, 1, 1},                   // exact
		{"10%", 9, 1, 0},                    // 0.9: batch at least 1, allowance 0
		{"1%", 1, 1, 0},                     // tiny set
		{"100%", 8, 8, 8},                   // everything
		{"0%", 8, 1, 0},                     // allowance 0: the first failure halts
		{"33%", 3, 1, 0},                    // 0.99
		{"33.34%", 3, 2, 1},                 // 1.0002: batch 2, allowance 1
		{"2.5%", 200, 5, 5},                 // decimals are exact
		{"2.5%", 199, 5, 4},                 // 4.975
		{"0.01%", 10000, 1, 1},              // one basis point
		{"0.01%", 9999, 1, 0},               // 0.9999
		{"50%", 0, 0, 0},                    // no host
		{" 5 % ", 100, 5, 5},                // blanks around are trimmed
		{"5", 0, 0, 5},                      // no host: no batch
		{"100%", 1000001, 1000001, 1000001}, // no overflow
	} {
		var a rollout.Amount
		if err := a.UnmarshalText([]byte(tc.amount)); err != nil {
			t.Fatal(err)
		}
		if got := a.BatchOf(tc.n); got != tc.batch {
			t.Errorf("%q.BatchOf(%d) = %d, want %d", tc.amount, tc.n, got, tc.batch)
		}
		if got := a.AllowanceOf(tc.n); got != tc.allowance {
			t.Errorf("%q.AllowanceOf(%d) = %d, want %d", tc.amount, tc.n, got, tc.allowance)
		}
	}
}

func TestParseAmount(t *testing.T) {
	for _, tc := range []struct{ in, want, err string }{
		{in: "3", want: "3"},
		{in: " 10% ", want: "10%"},
		{in: "2.5%", want: "2.5%"},
		{in: "-1", err: "want a count"},
		{in: "+3", err: "want a count"},
		{in: "3.5", err: "want a count"},
		{in: "1e3", err: "want a count"},
		{in: "ten", err: "want a count"},
		{in: "%", err: "want a count"},
		{in: "2.555%", err: "at most two decimals"},
		{in: "101%", err: "at most 100%"},
		{in: "99999999999", err: "too large"},
	} {
		a, err := rollout.ParseAmount(tc.in)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("ParseAmount(%q) = %v, want an error with %q", tc.in, err, tc.err)
		case tc.err == "" && err != nil:
			t.Errorf("ParseAmount(%q): %v", tc.in, err)
		case tc.err == "" && a.String() != tc.want:
			t.Errorf("ParseAmount(%q) = %q, want %q", tc.in, a, tc.want)
		}
	}
	if got := rollout.Percent(2.5).String(); got != "2.5%" {
		t.Errorf("Percent(2.5) = %q", got)
	}
	if got := rollout.Count(4).String(); got != "4" {
		t.Errorf("Count(4) = %q", got)
	}
}

func TestGate(t *testing.T) {
	var g rollout.Gate
	if err := g.UnmarshalText([]byte("  soak   1h30m ")); err != nil {
		t.Fatal(err)
	}
	if g.Soak() != 90*time.Minute || g.Promote() || g.String() != "soak 1h30m" {
		t.Errorf("soak gate read as %q, soak %v, promote %v", g, g.Soak(), g.Promote())
	}
	if p := rollout.PromoteGate(); !p.Promote() || p.Soak() != 0 || !p.IsSet() {
		t.Errorf("promote gate: %q", p)
	}
	if s := rollout.SoakGate(10 * time.Minute); s.Soak() != 10*time.Minute {
		t.Errorf("SoakGate(10m) = %q", s)
	}
	if (rollout.Gate{}).IsSet() {
		t.Error("the zero gate is set")
	}
}
