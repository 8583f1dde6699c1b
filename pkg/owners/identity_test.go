package owners

import (
	"errors"
	"strings"
	"testing"
)

// An identity approves on balcony.approver.approve.<identity>: a NATS
// wildcard or a name no login can have must never be taken for one.
func TestValidLogin(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"kermit", true},
		{"@Swedish-Chef", true},
		{" @Fozzie ", true},
		{"a", true},
		{"a1-b2-c3", true},
		{strings.Repeat("a", 39), true},
		{"kermit_muppets", true}, // an Enterprise Managed User
		{"*", false},
		{">", false},
		{"", false},
		{"@", false},
		{"kermit.the.frog", false},
		{"kermit frog", false},
		{"-kermit", false},
		{"kermit-", false},
		{"ker--mit", false},
		{strings.Repeat("a", 40), false},
		{strings.Repeat("a", 40) + "_muppets", false},
		{"kermit_", false},
		{"_kermit", false},
		{"kermit_a_b", false},
		{"muppets/ops", false},
		{"kermit@muppets.example", false},
		{"dependabot[bot]", false},
	}
	for _, tt := range tests {
		err := ValidLogin(tt.name)
		if (err == nil) != tt.ok {
			t.Errorf("ValidLogin(%q) = %v, want ok %v", tt.name, err, tt.ok)
		}
		if err != nil && (!errors.Is(err, ErrInvalidLogin) || !strings.Contains(err.Error(), "letters, digits and single hyphens")) {
			t.Errorf("ValidLogin(%q) = %v, want ErrInvalidLogin naming the rule", tt.name, err)
		}
	}
}

func TestSubjectLogin(t *testing.T) {
	for subject, want := range map[string]string{
		"balcony.approver.approve.Gonzo": "gonzo",
		"balcony.applier.halt.statler":   "statler",
		"balcony.applier.halt.*":         "",
		"balcony.applier.halt.>":         "",
		"balcony.applier.halt.-x":        "",
	} {
		got, err := SubjectLogin(subject)
		if got != want || (want == "") != (err != nil) {
			t.Errorf("SubjectLogin(%q) = %q, %v; want %q", subject, got, err, want)
		}
	}
}
