//go:build cluster

package cluster

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/balcony-dev/balcony/pkg/approver"
	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/bus/bustest"
	"github.com/balcony-dev/balcony/pkg/gitrepo"
	"github.com/balcony-dev/balcony/pkg/gitrepo/gittest"
	"github.com/balcony-dev/balcony/pkg/nooper"
	"github.com/balcony-dev/balcony/pkg/owners"
	"github.com/balcony-dev/balcony/pkg/protocol"
)

// fleetSize is the number of fake hosts; each is asked for two noops (the
// commit and its parent).
const fleetSize = 200

// TestCollectionSurvivesAKilledNode kills (SIGKILL) the server the
// nooper is connected to, a server that leads no stream and no consumer,
// when half of the collection's reports are in.
func TestCollectionSurvivesAKilledNode(t *testing.T) {
	killMidCollection(t, false)
}

// TestCollectionSurvivesTheLeaderKilled kills, when half of the
// collection's reports are in, the server that leads every stream (RUNS,
// REPORTS, KV_noops...) and every durable consumer, and to which the
// nooper is connected: elections and the nooper's reconnection happen
// at once.
func TestCollectionSurvivesTheLeaderKilled(t *testing.T) {
	killMidCollection(t, true)
}

// killMidCollection runs a collection of fleetSize fake hosts on a
// 3-node cluster at three replicas, with a nooper and an approver
// connected with all three URLs, kills one node with half the reports in
// (the leader of everything when leader is set), and shows that the
// collection finishes with every host asked once per revision and every
// report stored and counted once, noop.ready announced once, and that an
// approval given on the two nodes left is recorded and announced once.
// The killed node then comes back and catches up.
func killMidCollection(t *testing.T, leader bool) {
	ctx := context.Background()
	begin := time.Now()
	c := startCluster(t)
	admin := c.connect("admin")
	if err := bus.ProvisionDeclaredReplicas(ctx, admin.JS, 3); err != nil {
		t.Fatal(err)
	}
	t.Logf("cluster started and provisioned at three replicas: %s", time.Since(begin).Round(time.Millisecond))
	log := serviceLog(t)

	code := gittest.New(t)
	revP := code.Commit("the applied code", map[string]string{"manifests/site.pp": "# P\n"})
	revA := code.Commit("four workers", map[string]string{"manifests/site.pp": "# A\n"})
	code.Push("main")

	hosts := make([]string, fleetSize)
	for i := range hosts {
		hosts[i] = fmt.Sprintf("h%04d.example.com", i)
	}
	// Recorded revisions r0 and r1: app.conf goes from 2 to 4 workers.
	fl := newFleet(t, c.connect("fleet"), hosts, map[string]string{revP: "r0", revA: "r1"}, fleetSize)

	nooperConn := c.connect("nooper")
	startNooper(t, nooperConn, nooper.Options{
		Code: mirror(t, code), RunTimeout: time.Hour, CollectionTimeout: 2 * time.Hour, Log: log,
	})
	startApprover(t, c.connect("approver"), approver.Options{
		Code: mirror(t, code), Log: log,
		Config: approver.Config{Admins: []string{"admin"}, Logins: map[string]string{"ada@example.com": "ada"}},
	})
	people := approver.Client{NC: c.connect("cli").NC}
	bustest.Eventually(t, time.Minute, "the approver's service answering", func() bool {
		_, err := people.Status(ctx, revA)
		return errors.Is(err, approver.ErrNoRecord)
	})

	// Every stream and consumer is led by one node: the nooper's own
	// when the leader is to die, another one otherwise.
	nooperNode := nooperConn.NC.ConnectedServerName()
	lead := nooperNode
	if !leader {
		for _, n := range c.nodes {
			if n.name != nooperNode {
				lead = n.name
				break
			}
		}
	}
	c.lead(admin, lead)
	victim := c.byName(nooperNode)
	// The events are read from the stream's start through a node that
	// lives: an ordered consumer whose connection died with the victim
	// once stopped delivering for minutes (the approver's durable
	// consumer had the event), which is nats.go's to recover, not what
	// this test is about.
	evs := bustest.Events(t, c.connectTo("events", c.survivor(victim)))
	t.Logf("every stream and consumer led by %s; the nooper connected to %s; %s dies mid-collection", lead, nooperNode, victim.name)

	start := time.Now()
	publishCommit(t, admin, revP, revA)
	select {
	case <-fl.halfway:
	case <-time.After(bustest.Patience):
		t.Fatalf("after %s: fewer than %d of %d reports on the bus", bustest.Patience, fleetSize, 2*fleetSize)
	}
	c.kill(victim)
	fl.open()

	bustest.WhileMoving(t, admin, "noop.ready of "+revA[:8], func() bool { return len(evs.Of("noop.ready", revA)) > 0 },
		"RUNS", "REPORTS", "KV_noops", "KV_reports")
	t.Logf("commit event to noop.ready of %d hosts (2 noops each), a node killed halfway: %s", fleetSize, time.Since(start).Round(time.Millisecond))
	start = time.Now()

	col, err := nooper.Client{NC: admin.NC}.Collection(ctx, revA)
	if err != nil {
		t.Fatal(err)
	}
	checkCollection(t, col, hosts)
	ids := fl.check(revP, revA)
	checkReportsStored(t, admin, hosts, ids)

	// The approval, on the two nodes left.
	var st *approver.StatusReply
	bustest.Eventually(t, time.Minute, "the approver's record of "+revA[:8], func() bool {
		st, err = people.Status(ctx, revA)
		return err == nil && st.Ready
	})
	if len(st.Groups) == 0 {
		t.Fatalf("nothing to approve in %s: %+v", revA[:8], st)
	}
	reply, err := people.Approve(ctx, revA, "admin", owners.SourceCLI, nil)
	if err != nil {
		t.Fatalf("approve: %v", err)
	}
	if !reply.Approved {
		t.Fatalf("approved by an admin, but not approved: %+v", reply)
	}
	bustest.Eventually(t, time.Minute, "approval.complete of "+revA[:8], func() bool { return len(evs.Of("approval.complete", revA)) > 0 })
	t.Logf("noop.ready to approval.complete: %s", time.Since(start).Round(time.Millisecond))
	start = time.Now()

	// The killed node comes back and catches up; then nothing is pending
	// anywhere, and what was announced is final.
	c.start(victim)
	c.current(admin)
	t.Logf("%s back and every replica current: %s", victim.name, time.Since(start).Round(time.Millisecond))
	start = time.Now()
	settle(t, admin, evs)
	t.Logf("every consumer done: %s", time.Since(start).Round(time.Millisecond))
	logRedeliveries(t, admin)
	if st, err = people.Status(ctx, revA); err != nil || !st.Approved {
		t.Errorf("after the node came back, %s: approved %v, %v", revA[:8], st != nil && st.Approved, err)
	}
	checkOnce(t, evs, revA, st)
	if n := fl.redelivered(); n > 0 {
		t.Logf("%d runs delivered more than once to the fleet by its own consumer (an acknowledgement lost with the node); each was asked once", n)
	}
	t.Logf("whole test, cluster start to the node caught up: %s", time.Since(begin).Round(time.Millisecond))
}

// checkCollection checks the finished noop: every host answered, once,
// and every host is in each group once.
func checkCollection(t *testing.T, col *nooper.Collection, hosts []string) {
	t.Helper()
	if col.State != nooper.StateReady || col.Result == nil {
		t.Fatalf("collection %s, result %v: want ready with a result", col.State, col.Result != nil)
	}
	r := col.Result
	if len(r.Unanswered) != 0 || len(r.Errors) != 0 || len(r.Withdrawn) != 0 {
		t.Errorf("unanswered %v, errors %v, withdrawn %v; want none", r.Unanswered, r.Errors, r.Withdrawn)
	}
	if !sameSet(col.Hosts, hosts) || !sameSet(r.Hosts, hosts) {
		t.Errorf("collection on %d hosts, result on %d; want each of the %d once", len(col.Hosts), len(r.Hosts), len(hosts))
	}
	if len(r.Groups) == 0 {
		t.Fatal("no change groups: the recorded reports r0 and r1 differ")
	}
	for _, g := range r.Groups {
		if !sameSet(g.Hosts, hosts) {
			t.Errorf("group %s (%s) on %d hosts, want each of the %d once", g.ID, g.Resource.ID, len(g.Hosts), len(hosts))
		}
	}
}

// sameSet tells whether got holds each of want exactly once and nothing
// else.
func sameSet(got, want []string) bool {
	if len(got) != len(want) {
		return false
	}
	seen := map[string]int{}
	for _, h := range got {
		seen[h]++
	}
	for _, h := range want {
		if seen[h] != 1 {
			return false
		}
	}
	return true
}

// checkReportsStored checks that REPORTS holds one report per run asked:
// two per host, none doubled by a publish retried across the election.
func checkReportsStored(t *testing.T, conn *bus.Conn, hosts []string, ids map[string]bool) {
	t.Helper()
	ctx := context.Background()
	s, err := conn.JS.Stream(ctx, "REPORTS")
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(bus.ReportPrefix+protocol.KindNoop+".>"))
	if err != nil {
		t.Fatal(err)
	}
	var total uint64
	for _, h := range hosts {
		subject, _ := bus.ReportSubject(protocol.KindNoop, h)
		if n := info.State.Subjects[subject]; n != 2 {
			t.Errorf("%s: %d reports stored, want 2", h, n)
		}
	}
	for _, n := range info.State.Subjects {
		total += n
	}
	if total != uint64(len(ids)) || len(ids) != 2*len(hosts) {
		t.Errorf("%d reports stored for %d runs asked, want %d each", total, len(ids), 2*len(hosts))
	}
}

// settle waits until every durable consumer of every stream has nothing
// pending and nothing unacknowledged (a message whose acknowledgement was
// lost with the node is redelivered after its ack wait, and must not be
// counted twice), then until the event log has read every event stored.
func settle(t *testing.T, conn *bus.Conn, evs *bustest.EventLog) {
	t.Helper()
	ctx := context.Background()
	// A redelivery waits for the consumers' ack wait (a minute) first.
	bustest.Eventually(t, 5*time.Minute, "every consumer done", func() bool {
		for name := range conn.JS.StreamNames(ctx).Name() {
			s, err := conn.JS.Stream(ctx, name)
			if err != nil {
				return false
			}
			for ci := range s.ListConsumers(ctx).Info() {
				if ci.Config.Durable != "" && (ci.NumPending != 0 || ci.NumAckPending != 0) {
					return false
				}
			}
		}
		return true
	})
	s, err := conn.JS.Stream(ctx, "EVENTS")
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	last := info.State.LastSeq
	bustest.Eventually(t, time.Minute, "every stored event read", func() bool { return evs.Seen() >= last })
}

// logRedeliveries logs the durable consumers that delivered a message
// more than once: a message on its way to a client of the killed node is
// delivered again after the consumer's ack wait.
func logRedeliveries(t *testing.T, conn *bus.Conn) {
	t.Helper()
	ctx := context.Background()
	for name := range conn.JS.StreamNames(ctx).Name() {
		s, err := conn.JS.Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		for ci := range s.ListConsumers(ctx).Info() {
			if ci.Config.Durable == "" {
				continue
			}
			// The consumer sequence counts every delivery; each message
			// matching its filter was acknowledged (settle).
			msgs := uint64(0)
			info, err := s.Info(ctx, jetstream.WithSubjectFilter(cmp.Or(ci.Config.FilterSubject, ">")))
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range info.State.Subjects {
				msgs += n
			}
			if ci.Delivered.Consumer > msgs {
				t.Logf("consumer %s on %s: %d deliveries of %d messages", ci.Name, name, ci.Delivered.Consumer, msgs)
			}
		}
	}
}

var progress = regexp.MustCompile(`(\d+) of (\d+) hosts answered`)

// checkOnce checks what was announced about sha: noop.ready once, each
// group's approval.needed and approval.granted once, approval.complete
// once, and no progress counting more answers than hosts.
func checkOnce(t *testing.T, evs *bustest.EventLog, sha string, st *approver.StatusReply) {
	t.Helper()
	for _, typ := range []string{"noop.ready", "approval.complete"} {
		if n := len(evs.Of(typ, sha)); n != 1 {
			t.Errorf("%d %s events for %s, want 1", n, typ, sha[:8])
		}
	}
	for _, typ := range []string{"approval.needed", "approval.granted"} {
		per := map[string]int{}
		for _, ev := range evs.Of(typ, sha) {
			g, _ := ev.Data["group"].(string)
			per[g]++
		}
		for _, g := range st.Groups {
			if per[g.ID] != 1 {
				t.Errorf("%d %s events for group %s, want 1", per[g.ID], typ, g.ID)
			}
		}
		if len(per) != len(st.Groups) {
			t.Errorf("%s for groups %v, want the %d groups of the commit", typ, per, len(st.Groups))
		}
	}
	for _, ev := range evs.Of("noop.progress", sha) {
		if m := progress.FindStringSubmatch(ev.Text); m != nil {
			answered, _ := strconv.Atoi(m[1])
			of, _ := strconv.Atoi(m[2])
			if answered > of || of != fleetSize {
				t.Errorf("progress %q: more answers than hosts, or not %d hosts", ev.Text, fleetSize)
			}
		}
	}
}

// publishCommit publishes the commit event of a push of child on parent,
// as the committer would.
func publishCommit(t *testing.T, conn *bus.Conn, parent, child string) {
	t.Helper()
	now := time.Now().UTC()
	ev := protocol.CommitEvent{
		Schema: protocol.SchemaVersion, Repo: "puppet", Ref: "refs/heads/main", Branch: "main",
		Old: parent, New: child, Source: "hook", Time: now,
		Commits: []protocol.Commit{{SHA: child, Parents: []string{parent}, Author: "Ada Lovelace", Subject: "four workers", Time: now}},
	}
	subject, err := bus.CommitSubject(ev.Repo)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Publish(context.Background(), subject, ev.Repo+":"+ev.Ref+":"+ev.New, ev); err != nil {
		t.Fatal(err)
	}
}

// mirror is a service's own mirror of the fixture's bare repository.
func mirror(t *testing.T, f *gittest.Fixture) *gitrepo.Repo {
	t.Helper()
	r, err := gitrepo.Mirror(context.Background(), f.Bare, filepath.Join(t.TempDir(), "code.git"))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// serviceLog is the nooper's and the approver's log, shown when the test
// fails.
func serviceLog(t *testing.T) zerolog.Logger {
	t.Helper()
	path := filepath.Join(t.TempDir(), "services.log")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		f.Close()
		if t.Failed() {
			t.Logf("services' log, last lines:\n%s", tail(path, 60))
			return
		}
		t.Logf("what the services warned about: %s", warnings(path))
	})
	return zerolog.New(f).Level(zerolog.InfoLevel).With().Timestamp().Logger()
}

// warnings counts the warnings and errors of a JSON log by message.
func warnings(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	counts := map[string]int{}
	for _, line := range bytes.Split(data, []byte("\n")) {
		var e struct{ Level, Message string }
		if json.Unmarshal(line, &e) == nil && (e.Level == "warn" || e.Level == "error") {
			counts[e.Level+": "+e.Message]++
		}
	}
	if len(counts) == 0 {
		return "nothing"
	}
	return fmt.Sprint(counts)
}

// startNooper runs a nooper until the test ends.
func startNooper(t *testing.T, conn *bus.Conn, o nooper.Options) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	n, err := nooper.New(ctx, conn, o)
	if err != nil {
		cancel()
		t.Fatalf("new nooper: %v", err)
	}
	runUntilCleanup(t, "nooper", cancel, func() error { return n.Run(ctx) })
}

// startApprover runs an approver until the test ends.
func startApprover(t *testing.T, conn *bus.Conn, o approver.Options) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	a, err := approver.New(ctx, conn, o)
	if err != nil {
		cancel()
		t.Fatalf("new approver: %v", err)
	}
	runUntilCleanup(t, "approver", cancel, func() error { return a.Run(ctx) })
}

// runUntilCleanup runs run in a goroutine; when the test ends it cancels
// it and waits for it to return.
func runUntilCleanup(t *testing.T, name string, cancel context.CancelFunc, run func() error) {
	done := make(chan error, 1)
	go func() { done <- run() }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("%s Run: %v", name, err)
			}
		case <-time.After(time.Minute):
			t.Errorf("%s Run did not return a minute after its context was cancelled", name)
		}
	})
}
