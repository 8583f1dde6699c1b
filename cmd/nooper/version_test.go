package main

import (
	"testing"

	"github.com/balcony-dev/balcony/pkg/daemon/clitest"
)

// --version reports the build's version, the one every command reports.
func TestVersion(t *testing.T) { clitest.CheckVersion(t, newRoot, "nooper") }
