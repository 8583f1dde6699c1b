package main

import (
	"slices"
	"testing"

	"github.com/balcony-dev/balcony/pkg/daemon/clitest"
)

// --version reports the build's version, the one every command reports.
func TestVersion(t *testing.T) { clitest.CheckVersion(t, newRoot, "chatbridge") }

func TestDaemonFlags(t *testing.T) {
	clitest.CheckFlags(t, newRoot, nil, slices.Concat(clitest.ServerFlags, []string{"--nats-url", "--nats-creds", "--log-format", "--config", "--metrics-listen", "--durable"}), nil)
}
