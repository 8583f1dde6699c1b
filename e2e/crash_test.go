package e2e

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/protocol"
)

// TestAgentKilledMidNoop kills an agent with SIGKILL while Puppet runs a
// noop, restarts it, and checks that the noop completes and is counted
// once.
func TestAgentKilledMidNoop(t *testing.T) {
	host := "fozzie.example.com"
	f := newFleet(t, []string{host})
	ctx := context.Background()
	hosts, err := f.conn.JS.KeyValue(ctx, "hosts")
	if err != nil {
		t.Fatal(err)
	}
	sha := f.push(t, 1)

	var busy string
	eventually(t, 2*time.Minute, "the agent to start a noop", func() bool {
		e, err := hosts.Get(ctx, host)
		if err != nil {
			return false
		}
		var info protocol.HostInfo
		if bus.Unmarshal(e.Value(), &info) != nil {
			return false
		}
		busy = info.Busy
		return busy != ""
	})
	f.agents[host].kill9()
	t.Logf("killed the agent during %s", busy)
	f.startAgent(t, host)

	c := f.waitReady(t, sha)
	g := onlyGroup(t, c, "File[/etc/balcony/motd-welcome]")
	if len(g.Hosts) != 1 || g.Hosts[0] != host {
		t.Errorf("group hosts %v, want [%s]", g.Hosts, host)
	}
	if len(c.Result.Unanswered) != 0 {
		t.Errorf("unanswered: %v", c.Result.Unanswered)
	}
	// The interrupted run answered once, and was not asked again.
	if n := countReports(t, f, host, busy); n != 1 {
		t.Errorf("%d reports of run %s, want 1", n, busy)
	}
	// It was interrupted: the restarted agent started it again.
	logText, err := os.ReadFile(f.agents[host].log)
	if err != nil {
		t.Fatal(err)
	}
	starts := 0
	for _, line := range strings.Split(string(logText), "\n") {
		if strings.Contains(line, "run started") && strings.Contains(line, busy) {
			starts++
		}
	}
	if starts != 2 {
		t.Errorf("run %s started %d times in the agent's log, want twice (before and after the kill)", busy, starts)
	}
	for _, need := range c.Needs {
		if need.Attempts != 1 {
			t.Errorf("%s of %s asked %d times, want once", need.Revision, need.Host, need.Attempts)
		}
	}
}

// TestNooperKilledMidCollection kills the nooper (and with it the embedded
// bus) with SIGKILL while hosts are answering, restarts it, and checks that
// the collection completes.
func TestNooperKilledMidCollection(t *testing.T) {
	f := newFleet(t, muppets)
	started := watchEvents(t, f.conn, "balcony.event.noop.started")
	sha := f.push(t, 1)
	eventually(t, time.Minute, "the noop to start", func() bool {
		return started.find(func(ev protocol.Event) bool { return ev.Commit == sha }) != nil
	})
	f.nooper.kill9()
	f.startNooper(t)

	c := f.waitReady(t, sha)
	g := onlyGroup(t, c, "File[/etc/balcony/motd-welcome]")
	if len(g.Hosts) != len(muppets) {
		t.Errorf("group hosts %v, want all three", g.Hosts)
	}
	if len(c.Result.Unanswered) != 0 {
		t.Errorf("unanswered: %v", c.Result.Unanswered)
	}
}

// countReports counts the reports of one run in REPORTS.
func countReports(t *testing.T, f *fleet, host, runID string) int {
	t.Helper()
	ctx := context.Background()
	stream, err := f.conn.JS.Stream(ctx, "REPORTS")
	if err != nil {
		t.Fatal(err)
	}
	subject, _ := bus.ReportSubject(protocol.KindNoop, host)
	n := 0
	for seq := uint64(1); ; {
		msg, err := stream.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(subject))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return n
		}
		if err != nil {
			t.Fatal(err)
		}
		var r protocol.RunResult
		if err := bus.Unmarshal(msg.Data, &r); err != nil {
			t.Fatal(err)
		}
		if r.RunID == runID {
			n++
		}
		seq = msg.Sequence + 1
	}
}

// TestPushWhileBusDown pushes while the bus is down: the push goes through
// at once and the hook says the commits will be published later; the next
// push publishes them too, and both commits are nooped.
func TestPushWhileBusDown(t *testing.T) {
	f := newFleet(t, []string{"statler.example.com"})
	f.nooper.stop()

	out := run(t, f.dir, filepath.Join(repoRoot(), "scripts", "sample-repo.sh"), "step", "1", f.work)
	if !strings.Contains(out, "could not reach the bus") || !strings.Contains(out, "main will be published by the next push") {
		t.Errorf("the hook did not say the push waits for the bus:\n%s", out)
	}
	first := strings.TrimSpace(run(t, f.work, "git", "rev-parse", "HEAD"))

	f.startNooper(t)
	second := f.push(t, 2)
	c := f.waitReady(t, first)
	onlyGroup(t, c, "File[/etc/balcony/motd-welcome]")
	c = f.waitReady(t, second)
	onlyGroup(t, c, "File[/etc/balcony/seat]")
}
