package agent

import (
	"strings"
	"testing"
)

func TestFailureReason(t *testing.T) {
	long := strings.Repeat("é", reasonErrorLen) // 2 bytes a rune
	tests := []struct {
		name string
		errs []string
		want string
	}{
		{"none", nil, ""},
		{"one", []string{"check out abc: unknown revision"}, "check out abc: unknown revision"},
		{"three", []string{"a", "b", "c"}, "a; b; c"},
		{"more", []string{"a", "b", "c", "d", "e"}, "a; b; c; (2 more)"},
		{"long, cut on a rune", []string{long}, long[:reasonErrorLen] + "…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := failureReason(tt.errs); got != tt.want {
				t.Errorf("failureReason(%q) = %q, want %q", tt.errs, got, tt.want)
			}
		})
	}
}
