package main

import (
	"testing"

	"github.com/balcony-dev/balcony/pkg/daemon/clitest"
)

func TestAgentCanEmbedTheBus(t *testing.T) {
	clitest.CheckFlags(t, newRoot, nil, []string{"--nats-url", "--embedded", "--data-dir", "--listen"}, nil)
}
