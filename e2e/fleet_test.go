package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/bus/bustest"
	"github.com/balcony-dev/balcony/pkg/credentials"
	"github.com/balcony-dev/balcony/pkg/nooper"
	"github.com/balcony-dev/balcony/pkg/protocol"
)

var jsonUnmarshal = json.Unmarshal

var muppets = []string{"fozzie.example.com", "statler.example.com", "waldorf.example.com"}

// fleet is a whole balcony on one machine: the nooper with the embedded
// bus, one agent process per simulated host, and the sample repository
// with the committer's hook installed.
type fleet struct {
	dir, url   string
	listen     string
	bare, work string
	nooper     *proc
	agents     map[string]*proc
	approver   *proc
	// conn reads every stream and bucket (as the nooper's identity on a
	// secured bus); watcher receives events (a person's identity there).
	conn, watcher *bus.Conn
	ready         *events
	// secured is set when the bus is secured (newSecuredFleet).
	secured *securedBus
	// codeFromBus are the hosts whose agents get the code from the bus
	// alone (--code bus, no --repo).
	codeFromBus map[string]bool
}

func newFleet(t *testing.T, hosts []string) *fleet {
	t.Helper()
	return newFleetOn(t, hosts, nil)
}

// newFleetOn starts a fleet on an open bus (sec nil) or on a bus secured
// with sec's credentials and TLS.
func newFleetOn(t *testing.T, hosts []string, sec *securedBus) *fleet {
	t.Helper()
	return newFleetWith(t, hosts, sec, nil)
}

// newFleetWith starts a fleet whose agents on codeFromBus get the code
// from the bus alone: they are never told where the repository is.
func newFleetWith(t *testing.T, hosts []string, sec *securedBus, codeFromBus []string) *fleet {
	t.Helper()
	requirePuppet(t)
	bin := binaries(t)
	dir := t.TempDir()
	f := &fleet{
		dir:         dir,
		listen:      fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		bare:        filepath.Join(dir, "puppet.git"),
		work:        filepath.Join(dir, "work"),
		agents:      map[string]*proc{},
		secured:     sec,
		codeFromBus: map[string]bool{},
	}
	for _, h := range codeFromBus {
		f.codeFromBus[h] = true
	}
	f.url = "nats://" + f.listen
	if sec != nil {
		f.url = "tls://" + f.listen
		sec.configure(t, dir, hosts)
	}
	run(t, dir, filepath.Join(repoRoot(), "scripts", "sample-repo.sh"), "init", f.bare, f.work)
	// Each host's current state is the initial commit, applied for real,
	// two at a time (each its own vardir): most of a Puppet run is one
	// core's work.
	var wg sync.WaitGroup
	errs := make([]error, len(hosts))
	slots := make(chan struct{}, 2)
	for i, h := range hosts {
		root := f.root(h)
		if err := os.MkdirAll(root, 0o755); err != nil {
			t.Fatal(err)
		}
		name := strings.Split(h, ".")[0]
		cmd := exec.Command("puppet", "apply", "--color=false", "--certname", h,
			"--vardir", filepath.Join(dir, "setup-var-"+name), "--modulepath", "modules",
			"--report", "--reports=none", "--lastrunreport", filepath.Join(dir, "setup-report-"+name+".yaml"), "manifests")
		cmd.Dir, cmd.Env = f.work, append(os.Environ(), "FACTER_balcony_root="+root)
		wg.Go(func() {
			slots <- struct{}{}
			defer func() { <-slots }()
			if out, err := cmd.CombinedOutput(); err != nil {
				errs[i] = fmt.Errorf("apply the initial code on %s: %v\n%s", h, err, out)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	f.startNooper(t)
	f.conn, f.watcher = f.connectAs(t, credentials.Nooper, ""), f.connectAs(t, credentials.Person, f.secured.watcherLogin())
	f.ready = watchEvents(t, f.watcher, "balcony.event.noop.ready")
	for _, h := range hosts {
		f.startAgent(t, h)
	}
	// The nooper provisions the buckets just after its server starts.
	var hostsKV jetstream.KeyValue
	eventually(t, 30*time.Second, "the hosts bucket", func() bool {
		kv, err := f.conn.JS.KeyValue(context.Background(), "hosts")
		hostsKV = kv
		return err == nil
	})
	eventually(t, 60*time.Second, "agents registered", func() bool {
		for _, h := range hosts {
			if _, err := hostsKV.Get(context.Background(), h); err != nil {
				return false
			}
		}
		return true
	})
	run(t, dir, filepath.Join(bin, "committer"), slices.Concat([]string{"install-hook"}, f.busArgs(credentials.Committer, ""), []string{"--branch", "main", f.bare})...)
	return f
}

// busArgs are the flags that connect a daemon or CLI verb to the fleet's
// bus as role's identity name (a host, a login; ignored for a service).
func (f *fleet) busArgs(role credentials.Role, name string) []string {
	args := []string{"--nats-url", f.url}
	if f.secured != nil {
		args = append(args, "--nats-creds", f.secured.seed(role, name), "--nats-tls-ca", f.secured.tls.CA)
	}
	return args
}

// connectAs connects the test to the fleet's bus as role's identity name
// (on an open bus, as nobody in particular).
func (f *fleet) connectAs(t *testing.T, role credentials.Role, name string) *bus.Conn {
	t.Helper()
	if f.secured == nil {
		return connect(t, f.url)
	}
	return connectWith(t, f.secured.options(f.url, role, name, nil))
}

func (f *fleet) root(host string) string {
	return filepath.Join(f.dir, "hosts", strings.Split(host, ".")[0], "root")
}

func (f *fleet) startNooper(t *testing.T) {
	t.Helper()
	args := []string{"nooper", "--listen", f.listen,
		"--repo", f.bare, "--state-dir", filepath.Join(f.dir, "nooper"),
		// Deadlines nothing reaches: a run queued behind others on a
		// loaded machine must not be cut short (docs/testing.md).
		"--data-dir", filepath.Join(f.dir, "nats"), "--run-timeout", "1h", "--collection-timeout", "2h",
		"--log-level", "debug"}
	if f.secured != nil {
		args = append(args, "--server-config", f.secured.config, "--nats-creds", f.secured.seed(credentials.Nooper, ""))
	}
	addr, args := withMetrics(t, args)
	f.nooper = start(t, f.dir, "nooper", args...)
	f.nooper.metrics = addr
}

func (f *fleet) startAgent(t *testing.T, host string) {
	t.Helper()
	name := strings.Split(host, ".")[0]
	code := []string{"--repo", f.bare}
	if f.codeFromBus[host] {
		code = []string{"--code", "bus"}
	}
	addr, args := withMetrics(t, slices.Concat([]string{"agent"}, f.busArgs(credentials.Agent, host), code, []string{"--host", host,
		"--state-dir", filepath.Join(f.dir, "hosts", name, "state"), "--root", f.root(host),
		"--heartbeat", "2s", "--poll", "5s",
		// Not under nice: beside the unit tests, niced Puppet runs starved.
		"--nice=false",
		"--puppet-disabled-lock", f.puppetDisabledLock(host)}))
	f.agents[host] = start(t, f.dir, "agent-"+name, args...)
	f.agents[host].metrics = addr
}

// puppetDisabledLock is where host's agent looks for `puppet agent
// --disable`'s lock file: a test writes it to disable Puppet there.
func (f *fleet) puppetDisabledLock(host string) string {
	return filepath.Join(f.dir, "hosts", strings.Split(host, ".")[0], "agent_disabled.lock")
}

// push runs one step of the sample history and returns the new tip.
func (f *fleet) push(t *testing.T, step int) string {
	t.Helper()
	run(t, f.dir, filepath.Join(repoRoot(), "scripts", "sample-repo.sh"), "step", fmt.Sprint(step), f.work)
	return strings.TrimSpace(run(t, f.work, "git", "rev-parse", "HEAD"))
}

// waitReady waits for the noop of sha to be stored as ready (polling the
// noops bucket, which also works across a restart of the bus) and checks
// that it was announced.
// waitReady waits for the noop of sha to be ready for as long as the bus
// shows work (runs asked, reports stored, records saved): Puppet on a
// loaded machine may take many times longer than alone.
func (f *fleet) waitReady(t *testing.T, sha string) *nooper.Collection {
	t.Helper()
	var c *nooper.Collection
	bustest.WhileMoving(t, f.conn, "noop of "+sha+" ready", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		got, err := nooper.Load(ctx, f.conn.JS, sha)
		if err != nil || got.State != nooper.StateReady {
			return false
		}
		c = got
		return true
	}, "RUNS", "REPORTS", "KV_noops", "KV_reports")
	if c.Result == nil {
		t.Fatalf("noop of %s ready without a result", sha)
	}
	eventually(t, 10*time.Second, "noop.ready event of "+sha, func() bool {
		return f.ready.find(func(ev protocol.Event) bool { return ev.Commit == sha }) != nil
	})
	return c
}
