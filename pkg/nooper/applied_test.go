package nooper_test

import (
	"context"
	"testing"
	"time"

	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/bus/bustest"
	"github.com/balcony-dev/balcony/pkg/hostinfo"
	"github.com/balcony-dev/balcony/pkg/protocol"
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
