package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/bus/bustest"
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
	conn       *bus.Conn
	ready      *events
}

func newFleet(t *testing.T, hosts []string) *fleet {
	t.Helper()
	requirePuppet(t)
	bin := binaries(t)
	dir := t.TempDir()
	f := &fleet{
		dir:    dir,
		listen: fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		bare:   filepath.Join(dir, "puppet.git"),
		work:   filepath.Join(dir, "work"),
		agents: map[string]*proc{},
	}
	f.url = "nats://" + f.listen
	run(t, dir, filepath.Join(repoRoot(), "scripts", "sample-repo.sh"), "init", f.bare, f.work)
	// Each host's current state is the initial commit, applied for real.
	for _, h := range hosts {
		root := f.root(h)
		if err := os.MkdirAll(root, 0o755); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("puppet", "apply", "--color=false", "--certname", h,
			"--vardir", filepath.Join(dir, "setup-var"), "--modulepath", "modules",
			"--report", "--reports=none", "--lastrunreport", filepath.Join(dir, "setup-report.yaml"), "manifests")
		cmd.Dir, cmd.Env = f.work, append(os.Environ(), "FACTER_balcony_root="+root)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("apply the initial code on %s: %v\n%s", h, err, out)
		}
	}
	f.startNooper(t)
	f.conn = connect(t, f.url)
	f.ready = watchEvents(t, f.conn, "balcony.event.noop.ready")
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
	run(t, dir, filepath.Join(bin, "committer"), "install-hook", "--nats-url", f.url, "--branch", "main", f.bare)
	return f
}

func (f *fleet) root(host string) string {
	return filepath.Join(f.dir, "hosts", strings.Split(host, ".")[0], "root")
}

func (f *fleet) startNooper(t *testing.T) {
	t.Helper()
	f.nooper = start(t, f.dir, "nooper", "nooper", "--listen", f.listen,
		"--repo", f.bare, "--state-dir", filepath.Join(f.dir, "nooper"),
		// Deadlines nothing reaches: a run queued behind others on a
		// loaded machine must not be cut short (docs/testing.md).
		"--data-dir", filepath.Join(f.dir, "nats"), "--run-timeout", "1h", "--collection-timeout", "2h",
		"--log-level", "debug")
}

func (f *fleet) startAgent(t *testing.T, host string) {
	t.Helper()
	name := strings.Split(host, ".")[0]
	f.agents[host] = start(t, f.dir, "agent-"+name, "agent", "--nats-url", f.url, "--host", host,
		"--state-dir", filepath.Join(f.dir, "hosts", name, "state"), "--root", f.root(host),
		"--repo", f.bare, "--heartbeat", "2s", "--poll", "5s")
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
