// Package prometheus_test checks the sample Prometheus configuration and
// alert rules of deploy/prometheus with promtool.
package prometheus_test

import (
	"os"
	"os/exec"
	"testing"
)

// promtool finds promtool, installing Debian's prometheus package when
// root with apt-get; without it the test is skipped, except in CI.
func promtool(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("promtool"); err == nil {
		return p
	}
	if _, err := exec.LookPath("apt-get"); err == nil && os.Geteuid() == 0 {
		cmd := exec.Command("apt-get", "install", "-y", "-qq", "--no-install-recommends", "prometheus")
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Logf("apt-get install prometheus: %v\n%s", err, out)
		}
		if p, err := exec.LookPath("promtool"); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "" {
		t.Skip("promtool not found (Debian package prometheus)")
	}
	t.Fatal("promtool not found: install Debian's prometheus package (.ci/run does)")
	return ""
}

func TestPromtool(t *testing.T) {
	bin := promtool(t)
	for _, args := range [][]string{
		{"check", "config", "prometheus.yml"}, // its rule_files too
		{"check", "rules", "alerts.yml"},
		{"test", "rules", "alerts_test.yml"},
	} {
		out, err := exec.Command(bin, args...).CombinedOutput()
		if err != nil {
			t.Errorf("promtool %v: %v\n%s", args, err, out)
		}
	}
}
