package main

import (
	"slices"
	"testing"

	"github.com/balcony-dev/balcony/pkg/daemon/clitest"
)

// The hook and install-hook reach a running bus; watch and serve are
// daemons and may embed it, and serve metrics.
func TestBusFlagsPerVerb(t *testing.T) {
	tests := []struct {
		verb   string
		server bool
	}{
		{"hook", false},
		{"install-hook", false},
		{"watch", true},
		{"serve", true},
	}
	for _, tt := range tests {
		t.Run(tt.verb, func(t *testing.T) {
			if tt.server {
				clitest.CheckFlags(t, newRoot, []string{tt.verb}, slices.Concat(clitest.ClientFlags, clitest.ServerFlags, []string{"--metrics-listen"}), nil)
			} else {
				clitest.CheckFlags(t, newRoot, []string{tt.verb}, clitest.ClientFlags, slices.Concat(clitest.ServerFlags, []string{"--metrics-listen"}))
			}
		})
	}
}
