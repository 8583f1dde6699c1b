//go:build !linux

package daemon_test

import (
	"os"
	"testing"
)

// openTerminal is only written for Linux.
func openTerminal(*testing.T) (*os.File, func() string, bool) { return nil, nil, false }
