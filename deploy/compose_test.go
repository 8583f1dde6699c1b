package deploy

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// composePorts is the metrics port of each compose service, by the
// convention of metricsPorts.
var composePorts = map[string]string{
	"nooper": "9481", "committer": "9482", "approver": "9483", "applier": "9484", "chatbridge": "9485", "agent": "9486",
	"web": "9487",
}

// composeConfig is docker-compose.yml as `docker-compose config` resolves
// it, every profile included; there is no Docker engine here, and config
// needs none.
func composeConfig(t *testing.T, env ...string) ([]byte, error) {
	t.Helper()
	cmd := exec.Command(need(t, "docker-compose", "docker-compose"), "--profile", "chat", "config")
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		err = fmt.Errorf("docker-compose config: %w: %s", err, stderr.String())
	}
	return out, err
}

// TestComposeIsValid checks docker-compose.yml as `make compose-check`
// does, that it refuses to start without the Puppet repository, and that
// every service's command takes the flags given (the Dockerfile builds
// every command into one image) and serves metrics on its port.
func TestComposeIsValid(t *testing.T) {
	if _, err := composeConfig(t, "PUPPET_REPO="); err == nil {
		t.Error("docker-compose config passes without PUPPET_REPO")
	}
	out, err := composeConfig(t, "PUPPET_REPO=https://git.example.com/puppet.git")
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Services map[string]struct {
			Command []string `yaml:"command"`
			Build   any      `yaml:"build"`
			Ports   []any    `yaml:"ports"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(out, &cfg); err != nil {
		t.Fatalf("docker-compose config output: %v\n%s", err, out)
	}
	bin := binaries(t)
	for name, port := range composePorts {
		svc, ok := cfg.Services[name]
		if !ok {
			t.Errorf("no service %s", name)
			continue
		}
		if svc.Build == nil || len(svc.Command) == 0 {
			t.Errorf("%s: not built from the Dockerfile, or no command", name)
			continue
		}
		command, args := svc.Command[0], []string{}
		if len(svc.Command) > 1 && !strings.HasPrefix(svc.Command[1], "-") {
			args = append(args, svc.Command[1])
		}
		help, err := exec.Command(filepath.Join(bin, command), append(args, "--help")...).CombinedOutput()
		if err != nil {
			t.Errorf("%s: %s %v --help: %v\n%s", name, command, args, err, help)
			continue
		}
		for _, w := range svc.Command[1:] {
			if flag, _, _ := strings.Cut(w, "="); strings.HasPrefix(flag, "--") &&
				!regexp.MustCompile(`(^|[\s,])`+regexp.QuoteMeta(flag)+`\b`).Match(help) {
				t.Errorf("%s gives %s %v the flag %s, which its --help does not list", name, command, args, flag)
			}
		}
		if !strings.Contains(strings.Join(svc.Command, " "), "--metrics-listen :"+port) {
			t.Errorf("%s: metrics not on :%s: %v", name, port, svc.Command)
		}
		published := false
		for _, p := range svc.Ports {
			// "127.0.0.1:9481:9481/tcp", or the long form.
			if m, ok := p.(map[string]any); ok && fmt.Sprint(m["target"]) == port || strings.Contains(fmt.Sprint(p), ":"+port+":"+port) {
				published = true
			}
		}
		if !published {
			t.Errorf("%s: metrics port %s not published: %v", name, port, svc.Ports)
		}
	}
	// Metrics and the web view's pages are for this host alone: nothing
	// authenticates a scrape, and the pages trust a proxy's header.
	for name, svc := range cfg.Services {
		if name == "nats" {
			continue // the bus, for agents elsewhere
		}
		for _, p := range svc.Ports {
			ip := ""
			if m, ok := p.(map[string]any); ok {
				ip = fmt.Sprint(m["host_ip"])
			} else if parts := strings.Split(fmt.Sprint(p), ":"); len(parts) == 3 {
				ip = parts[0]
			}
			if ip != "127.0.0.1" {
				t.Errorf("%s publishes %v beyond the host's loopback", name, p)
			}
		}
	}
}
