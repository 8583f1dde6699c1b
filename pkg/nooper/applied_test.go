package nooper_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/bus/bustest"
	"github.com/balcony-dev/balcony/pkg/hostinfo"
	"github.com/balcony-dev/balcony/pkg/nooper"
	"github.com/balcony-dev/balcony/pkg/protocol"
	"github.com/balcony-dev/balcony/pkg/report"
)

// recordApply records, as the applier does, that host applied rev now;
// it returns when.
func recordApply(t *testing.T, conn *bus.Conn, host, rev string) time.Time {
	t.Helper()
	ctx := context.Background()
	kv, err := conn.JS.KeyValue(ctx, hostinfo.Bucket)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now().UTC()
	_, err = hostinfo.Update(ctx, kv, host, func(info *protocol.HostInfo, existed bool) error {
		if !existed {
			t.Errorf("%s has no record to record its apply in", host)
		}
		info.LastApplied, info.AppliedAt, info.AppliedRun = rev, at, "apply:"+rev+":"+host+":1:rtest"
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return at
}

// commitEvent is the event of a push of sha, one commit on top of old.
func commitEvent(old, sha string) protocol.CommitEvent {
	ev := pushEvent()
	ev.Old, ev.New, ev.Commits = old, sha, []protocol.Commit{{SHA: sha, Parents: []string{old}, Subject: "next", Time: time.Now().UTC()}}
	return ev
}

// TestStaleReportsAreNotReused: a host's stored reports taken before its
// last apply are never reused. fozzie applied B, the tip: C, pushed next,
// asks fozzie for B (its parent and fozzie's drift baseline) again, and
// statler, which applied nothing, not.
func TestStaleReportsAreNotReused(t *testing.T) {
	srv := bustest.Start(t)
	hostConn := bustest.Client(t, srv)
	hosts := []*fakeHost{newFakeHost(t, hostConn, fozzie, true, nil), newFakeHost(t, hostConn, statler, true, nil)}
	code := newCode(t)
	o := testOptions()
	o.Code = mirror(t, code)
	startNooper(t, srv, o)
	publishCommitEvent(t, srv, pushEvent())
	waitReady(t, srv, revA)
	waitReady(t, srv, revB)

	at := recordApply(t, srv, fozzie, revB)
	revC := code.Commit("reload nginx", map[string]string{"manifests/site.pp": "# C\n"})
	code.Push("main")
	publishCommitEvent(t, srv, commitEvent(revB, revC))
	col := waitReady(t, srv, revC)

	if got := hosts[0].requests()[revB]; len(got) != 2 {
		t.Errorf("fozzie was asked %v for B, want twice: its noop of B is from before it applied B", got)
	}
	if got := hosts[1].requests()[revB]; len(got) != 1 {
		t.Errorf("statler was asked %v for B, want once: its noop of B is reused", got)
	}
	if col.LastApplied[fozzie] != revB || !col.AppliedAt[fozzie].Equal(at) {
		t.Errorf("noop of C: fozzie last applied %q at %s, want B at %s", col.LastApplied[fozzie], col.AppliedAt[fozzie], at)
	}
	if len(col.Result.Unanswered) != 0 || len(col.Result.Errors) != 0 {
		t.Errorf("noop of C: unanswered %v, errors %v", col.Result.Unanswered, col.Result.Errors)
	}
}

// afterApplyOfA is what a host's noops show once it applied A: nginx is
// installed; the motd still drifts.
func afterApplyOfA(rev string) []report.Resource {
	if rev == revB {
		return []report.Resource{motd, svcNginx}
	}
	return []report.Resource{motd}
}

// asked counts the runs host was asked for each of revs, in order.
func asked(h *fakeHost, revs ...string) []int {
	got := h.requests()
	out := make([]int, len(revs))
	for i, rev := range revs {
		out[i] = len(got[rev])
	}
	return out
}

// waitGeneration waits for the noop of sha to be ready and announced at
// generation gen, and returns it.
func waitGeneration(t *testing.T, conn *bus.Conn, sha string, gen int) *nooper.Collection {
	t.Helper()
	var col *nooper.Collection
	eventually(t, bustest.Patience, fmt.Sprintf("the noop of %s announced at generation %d", sha[:8], gen), func() bool {
		c, err := nooper.Load(context.Background(), conn.JS, sha)
		col = c
		return err == nil && c.Generation >= gen && c.State == nooper.StateReady && c.Announced
	})
	if col.Generation != gen {
		t.Fatalf("noop of %s at generation %d, want %d", sha[:8], col.Generation, gen)
	}
	return col
}

// readyGenerations lists the generations noop.ready announced for sha.
func readyGenerations(evs *events, sha string) []int {
	var out []int
	for _, ev := range evs.of("noop.ready", sha) {
		g, _ := ev.Data["generation"].(float64)
		out = append(out, int(g))
	}
	return out
}

// TestRenoopAfterApply: fozzie applies A. The noop of B, the commit after
// A, asks fozzie again for B and A (its parent and now fozzie's drift
// baseline), computes a new generation and announces it; statler is not
// asked again, and the noop of A itself (fozzie's P is not asked again)
// is left alone.
func TestRenoopAfterApply(t *testing.T) {
	srv := bustest.Start(t)
	hostConn := bustest.Client(t, srv)
	evs := subscribeEvents(t, srv)
	foz, sta := newFakeHost(t, hostConn, fozzie, true, nil), newFakeHost(t, hostConn, statler, true, nil)
	startNooper(t, srv, testOptions())
	publishCommitEvent(t, srv, pushEvent())
	waitGeneration(t, srv, revA, 0)
	first := waitGeneration(t, srv, revB, 0)

	foz.setReports(afterApplyOfA)
	at := recordApply(t, srv, fozzie, revA)
	col := waitGeneration(t, srv, revB, 1)

	if got := asked(foz, revP, revA, revB); !slices.Equal(got, []int{1, 2, 2}) {
		t.Errorf("fozzie was asked for P, A, B %v times, want 1, 2, 2", got)
	}
	if got := asked(sta, revP, revA, revB); !slices.Equal(got, []int{1, 1, 1}) {
		t.Errorf("statler was asked for P, A, B %v times, want once each", got)
	}
	if col.LastApplied[fozzie] != revA || !col.AppliedAt[fozzie].Equal(at) || col.LastApplied[statler] != "" {
		t.Errorf("noop of B: last applied %v at %v, want fozzie's A at %s", col.LastApplied, col.AppliedAt, at)
	}
	if col.RunTag == first.RunTag {
		t.Errorf("the re-noop kept the run tag %s", col.RunTag)
	}
	for _, need := range col.Needs {
		if need.Host == fozzie && (!need.Answered || need.Attempts != 1 || !strings.HasSuffix(need.RunID, ":"+col.RunTag)) {
			t.Errorf("noop of B: fozzie's need %+v, want answered by a run of the re-noop", need)
		}
	}
	if got, want := groupSummary(col), []string{"Service[nginx] on " + fozzie + "," + statler}; !slices.Equal(got, want) {
		t.Errorf("groups of B after the re-noop: %q, want %q", got, want)
	}
	eventually(t, 5*time.Second, "a second noop.ready of B", func() bool { return len(evs.of("noop.ready", revB)) == 2 })
	if got := readyGenerations(evs, revB); !slices.Equal(got, []int{0, 1}) {
		t.Errorf("noop.ready of B at generations %v, want 0 then 1", got)
	}
	if started := evs.of("noop.started", revB); len(started) != 2 || !strings.Contains(started[1].Text, "after their apply") {
		t.Errorf("noop.started of B: %+v, want a second one saying it re-noops after an apply", started)
	}

	a, err := nooper.Load(context.Background(), srv.JS, revA)
	if err != nil {
		t.Fatal(err)
	}
	if a.Generation != 0 || len(a.AppliedAt) != 0 || len(evs.of("noop.ready", revA)) != 1 {
		t.Errorf("noop of A: generation %d, applied %v, %d noop.ready; want it left alone", a.Generation, a.AppliedAt, len(evs.of("noop.ready", revA)))
	}
}

// TestRenoopAfterApplyAcrossRestarts: an apply recorded while no nooper
// runs is taken in when one starts, once: a nooper started after that
// does not re-noop it again, and takes in the next apply.
func TestRenoopAfterApplyAcrossRestarts(t *testing.T) {
	srv := bustest.Start(t)
	hostConn := bustest.Client(t, srv)
	evs := subscribeEvents(t, srv)
	foz, sta := newFakeHost(t, hostConn, fozzie, true, nil), newFakeHost(t, hostConn, statler, true, nil)
	o := testOptions()
	o.Code = mirror(t, newCode(t))
	first := startNooper(t, bustest.Client(t, srv), o)
	publishCommitEvent(t, srv, pushEvent())
	waitGeneration(t, srv, revA, 0)
	waitGeneration(t, srv, revB, 0)
	first.stop(t)

	recordApply(t, srv, fozzie, revA)
	second := startNooper(t, bustest.Client(t, srv), o)
	waitGeneration(t, srv, revB, 1)
	second.stop(t)
	if got := asked(foz, revB); got[0] != 2 {
		t.Fatalf("fozzie was asked for B %d times, want twice", got[0])
	}

	startNooper(t, bustest.Client(t, srv), o)
	recordApply(t, srv, statler, revA)
	col := waitGeneration(t, srv, revB, 2)
	if got := asked(foz, revP, revA, revB); !slices.Equal(got, []int{1, 2, 2}) {
		t.Errorf("fozzie was asked for P, A, B %v times, want 1, 2, 2: its apply is taken in once", got)
	}
	if got := asked(sta, revP, revA, revB); !slices.Equal(got, []int{1, 2, 2}) {
		t.Errorf("statler was asked for P, A, B %v times, want 1, 2, 2", got)
	}
	if col.LastApplied[fozzie] != revA || col.LastApplied[statler] != revA {
		t.Errorf("noop of B: last applied %v, want A on both", col.LastApplied)
	}
	eventually(t, 5*time.Second, "three noop.ready of B", func() bool { return len(evs.of("noop.ready", revB)) == 3 })
	if got := readyGenerations(evs, revB); !slices.Equal(got, []int{0, 1, 2}) {
		t.Errorf("noop.ready of B at generations %v, want 0, 1, 2", got)
	}
	if n := len(evs.of("noop.ready", revA)); n != 1 {
		t.Errorf("%d noop.ready of A, want 1", n)
	}
}

// TestRenoopAfterApplyWhileCollecting: fozzie applies A while the noop of
// B still waits for statler. fozzie's needs go back to unanswered, are
// asked anew with new run ids, and B finishes once, in its generation,
// with fozzie's noops from after the apply.
func TestRenoopAfterApplyWhileCollecting(t *testing.T) {
	srv := bustest.Start(t)
	hostConn := bustest.Client(t, srv)
	evs := subscribeEvents(t, srv)
	hold := make(chan struct{})
	foz, sta := newFakeHost(t, hostConn, fozzie, true, nil), newFakeHost(t, hostConn, statler, true, hold)
	startNooper(t, srv, testOptions())
	publishCommitEvent(t, srv, pushEvent())
	ctx := context.Background()
	client := nooper.Client{NC: bustest.Client(t, srv).NC}
	eventually(t, bustest.Patience, "fozzie's noops of A and B kept, statler asked", func() bool {
		for _, rev := range []string{revA, revB} {
			if _, err := client.Report(ctx, rev, fozzie); err != nil {
				return false
			}
		}
		return len(sta.requests()) == 3
	})
	before := foz.requests()[revB]
	// A re-noop asked meanwhile is refused as such (the CI trigger waits
	// on it), not as any failure.
	if _, err := client.Renoop(ctx, revB); !errors.Is(err, nooper.ErrCollecting) {
		t.Errorf("re-noop of B while it collects: %v, want ErrCollecting", err)
	}

	foz.setReports(afterApplyOfA)
	recordApply(t, srv, fozzie, revA)
	eventually(t, bustest.Patience, "fozzie asked for B again", func() bool { return len(foz.requests()[revB]) == 2 })
	close(hold)
	col := waitGeneration(t, srv, revB, 0)

	again := foz.requests()[revB][1]
	if again == before[0] || !strings.HasSuffix(again, ":"+col.RunTag) {
		t.Errorf("fozzie's second run of B is %s (first %s), want a new id with the tag %s", again, before[0], col.RunTag)
	}
	if need := col.Needs[slices.IndexFunc(col.Needs, func(n nooper.Need) bool { return n.Host == fozzie && n.Revision == revB })]; need.RunID != again || slices.Contains(need.Runs, before[0]) {
		t.Errorf("fozzie's need of B %+v, want answered by %s only", need, again)
	}
	if col.LastApplied[fozzie] != revA {
		t.Errorf("noop of B: last applied %v, want fozzie's A", col.LastApplied)
	}
	eventually(t, 5*time.Second, "noop.ready of B", func() bool { return len(evs.of("noop.ready", revB)) > 0 })
	if got := readyGenerations(evs, revB); !slices.Equal(got, []int{0}) {
		t.Errorf("noop.ready of B at generations %v, want once, at 0", got)
	}
	if got := asked(foz, revP); got[0] != 1 {
		t.Errorf("fozzie was asked for P %d times, want once: the noop of A is left alone", got[0])
	}
}
