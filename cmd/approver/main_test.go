package main

import (
	"slices"
	"testing"

	"github.com/balcony-dev/balcony/pkg/daemon/clitest"
)

func TestDaemonTakesServerFlags(t *testing.T) {
	clitest.CheckFlags(t, newRoot, nil, slices.Concat(clitest.ServerFlags, []string{"--nats-url", "--nats-creds", "--log-format", "--metrics-listen"}), nil)
}

func TestVerbsTakeClientFlagsOnly(t *testing.T) {
	for _, verb := range []string{"status", "approve", "revoke"} {
		t.Run(verb, func(t *testing.T) { clitest.CheckClientVerb(t, newRoot, verb, "--as", "kermit", "0123abc") })
	}
}
