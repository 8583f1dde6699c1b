// Package deploy holds no code: its tests check the files operators
// install from deploy/ (systemd units) and the repository's
// docker-compose.yml against the commands they start.
package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
)

// binDir is where the units expect the commands.
const binDir = "/usr/local/bin/"

// metricsPorts is the convention every daemon's --metrics-listen follows
// (units, compose, the Prometheus scrape configuration).
var metricsPorts = map[string]string{
	"balcony-nooper.service":          "9481",
	"balcony-committer-serve.service": "9482",
	"balcony-committer-watch.service": "9482",
	"balcony-approver.service":        "9483",
	"balcony-applier.service":         "9484",
	"balcony-chatbridge.service":      "9485",
	"balcony-agent.service":           "9486",
	"balcony-web.service":             "9487",
}

// need finds a Debian package's command, installing the package when this
// is root with apt-get (without its recommendations: docker-compose's
// would bring a Docker engine); otherwise the test is skipped, or fails in
// CI.
func need(t *testing.T, command, pkg string) string {
	t.Helper()
	if p, err := exec.LookPath(command); err == nil {
		return p
	}
	if _, err := exec.LookPath("apt-get"); err == nil && os.Geteuid() == 0 {
		out, err := exec.Command("apt-get", "install", "-y", "-qq", "--no-install-recommends", pkg).CombinedOutput()
		if err != nil {
			t.Logf("apt-get install %s: %v\n%s", pkg, err, out)
		}
		if p, err := exec.LookPath(command); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s (Debian package %s) is needed", command, pkg)
	}
	t.Skipf("%s (Debian package %s) is not installed", command, pkg)
	return ""
}

var (
	buildOnce sync.Once
	built     string
	buildErr  error
	buildOut  []byte
)

// binaries builds every command, and the nats-server of go.mod, into one
// directory, once per test binary.
func binaries(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "balcony-deploy-bin")
		if err != nil {
			buildErr = err
			return
		}
		built = dir
		for _, pkg := range []string{"./cmd/...", "github.com/nats-io/nats-server/v2"} {
			out := dir + "/"
			if !strings.HasPrefix(pkg, "./") {
				out = filepath.Join(dir, "nats-server")
			}
			cmd := exec.Command("go", "build", "-o", out, pkg)
			cmd.Dir = ".."
			if buildOut, buildErr = cmd.CombinedOutput(); buildErr != nil {
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatalf("build the commands: %v\n%s", buildErr, buildOut)
	}
	return built
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built != "" {
		_ = os.RemoveAll(built)
	}
	os.Exit(code)
}

func units(t *testing.T) map[string]string {
	t.Helper()
	paths, err := filepath.Glob("systemd/*.service")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no units in deploy/systemd: %v", err)
	}
	out := map[string]string{}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(p)] = string(data)
	}
	return out
}

// TestUnitsVerify runs systemd-analyze verify on every unit, its commands pointed at freshly built ones:
// verify checks that each ExecStart is an executable. Any complaint, even
// a warning verify exits 0 on (an unknown key, a bad value), fails.
func TestUnitsVerify(t *testing.T) {
	analyze := need(t, "systemd-analyze", "systemd")
	bin := binaries(t)
	dir := t.TempDir()
	var files []string
	for name, text := range units(t) {
		text = strings.ReplaceAll(text, binDir, bin+"/")
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, path)
	}
	sort.Strings(files)
	cmd := exec.Command(analyze, append([]string{"verify", "--man=no"}, files...)...)
	out, err := cmd.CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// execStart is a unit's ExecStart command line, its continuations joined.
func execStart(t *testing.T, name, text string) []string {
	t.Helper()
	text = strings.ReplaceAll(text, "\\\n", " ")
	for _, line := range strings.Split(text, "\n") {
		if rest, ok := strings.CutPrefix(line, "ExecStart="); ok {
			return strings.Fields(rest)
		}
	}
	t.Fatalf("%s has no ExecStart", name)
	return nil
}

// TestUnitFlagsExist checks that every flag a unit gives its command is
// one the command's --help lists, so that a renamed flag cannot leave a
// unit that never starts.
func TestUnitFlagsExist(t *testing.T) {
	bin := binaries(t)
	for name, text := range units(t) {
		t.Run(name, func(t *testing.T) {
			words := execStart(t, name, text)
			command, ok := strings.CutPrefix(words[0], binDir)
			if !ok {
				t.Fatalf("ExecStart %s is not in %s", words[0], binDir)
			}
			args := []string{}
			if len(words) > 1 && !strings.HasPrefix(words[1], "-") {
				args = append(args, words[1]) // a verb
			}
			help, err := exec.Command(filepath.Join(bin, command), append(args, "--help")...).CombinedOutput()
			if err != nil && command != "nats-server" { // its --help exits 0 or 1 by version
				t.Fatalf("%s %v --help: %v\n%s", command, args, err, help)
			}
			for _, w := range words[1:] {
				flag, _, _ := strings.Cut(w, "=")
				if !strings.HasPrefix(flag, "--") {
					continue
				}
				if !regexp.MustCompile(`(^|[\s,])` + regexp.QuoteMeta(flag) + `\b`).Match(help) {
					t.Errorf("%s gives %s %v the flag %s, which its --help does not list", name, command, args, flag)
				}
			}
		})
	}
}

// TestEveryDaemonHasAUnit checks that each command in cmd/ but the
// benchmark runs under a unit, on its metrics port by convention.
func TestEveryDaemonHasAUnit(t *testing.T) {
	all := units(t)
	cmds, err := os.ReadDir("../cmd")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cmds {
		if !c.IsDir() || c.Name() == "bench-fleet" {
			continue
		}
		found := false
		for name, text := range all {
			if strings.HasPrefix(execStart(t, name, text)[0], binDir+c.Name()) {
				found = true
			}
		}
		if !found {
			t.Errorf("cmd/%s has no unit in deploy/systemd", c.Name())
		}
	}
	for name, port := range metricsPorts {
		text, ok := all[name]
		if !ok {
			t.Errorf("no %s", name)
			continue
		}
		if want := "Environment=METRICS_LISTEN=127.0.0.1:" + port + "\n"; !strings.Contains(text, want) {
			t.Errorf("%s: no %q", name, want)
		}
		if !strings.Contains(text, "--metrics-listen ${METRICS_LISTEN}") {
			t.Errorf("%s does not pass METRICS_LISTEN to --metrics-listen", name)
		}
	}
}

// TestServiceHardening checks that every unit but the agent's runs as a
// dynamic user with the hardening the README promises, and that each
// secret comes in through LoadCredential (never a path the dynamic user
// would have to be able to read).
func TestServiceHardening(t *testing.T) {
	want := []string{
		"DynamicUser=yes", "NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes",
		"PrivateDevices=yes", "ProtectKernelTunables=yes", "ProtectKernelModules=yes", "ProtectControlGroups=yes",
		"RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX", "RestrictNamespaces=yes", "LockPersonality=yes",
		"MemoryDenyWriteExecute=yes", "SystemCallFilter=@system-service", "CapabilityBoundingSet=\n",
		"Restart=on-failure", "After=network-online.target", "EnvironmentFile=-/etc/balcony/balcony.env",
	}
	for name, text := range units(t) {
		if name == "balcony-agent.service" {
			if strings.Contains(text, "DynamicUser=") || strings.Contains(text, "User=") {
				t.Errorf("%s must run as root: Puppet manages the system", name)
			}
			continue
		}
		for _, w := range want {
			if name == "balcony-nats.service" && strings.HasPrefix(w, "EnvironmentFile=") {
				continue // balcony's settings are not the server's
			}
			if !strings.Contains(text, w) {
				t.Errorf("%s lacks %q", name, strings.TrimSpace(w))
			}
		}
		if name != "balcony-nats.service" && !strings.Contains(text, "--nats-creds %d/nats.nk") {
			t.Errorf("%s does not read its nkey seed from its credentials", name)
		}
	}
}

// TestWebIsReadOnlyOnLoopback checks that the web unit serves its pages on
// loopback only and read-only: approving is the operator's choice
// (--user-header in web.env), made with the proxy in front, since the
// header is believed from any local address.
func TestWebIsReadOnlyOnLoopback(t *testing.T) {
	text, ok := units(t)["balcony-web.service"]
	if !ok {
		t.Fatal("no balcony-web.service")
	}
	if !strings.Contains(text, "Environment=HTTP_LISTEN=127.0.0.1:") {
		t.Error("balcony-web.service: HTTP_LISTEN is not on 127.0.0.1")
	}
	words := execStart(t, "balcony-web.service", text)
	if !strings.Contains(strings.Join(words, " "), "--http-listen ${HTTP_LISTEN}") {
		t.Errorf("balcony-web.service does not pass HTTP_LISTEN to --http-listen: %v", words)
	}
	for _, w := range words {
		if strings.HasPrefix(w, "--user-header") || strings.HasPrefix(w, "--trusted-proxy") {
			t.Errorf("balcony-web.service gives %s: approving must be asked for in web.env", w)
		}
	}
}
