package main

import (
	"testing"

	"github.com/balcony-dev/balcony/pkg/daemon/clitest"
)

func TestAgentCanEmbedTheBus(t *testing.T) {
	clitest.CheckFlags(t, newRoot, nil, []string{"--nats-url", "--embedded", "--data-dir", "--listen", "--metrics-listen"}, nil)
}

// Puppet's lock files where Debian's Puppet keeps them (`puppet config
// print agent_catalog_run_lockfile agent_disabled_lockfile` as root).
func TestPuppetLockDefaults(t *testing.T) {
	fs := newRoot().Flags()
	for flag, want := range map[string]string{
		"puppet-lock":          "/var/cache/puppet/state/agent_catalog_run.lock",
		"puppet-disabled-lock": "/var/cache/puppet/state/agent_disabled.lock",
	} {
		f := fs.Lookup(flag)
		if f == nil || f.DefValue != want {
			t.Errorf("--%s defaults to %v, want %s", flag, f, want)
		}
	}
}
