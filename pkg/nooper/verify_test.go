package nooper_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/bus/bustest"
	"github.com/balcony-dev/balcony/pkg/nooper"
	"github.com/balcony-dev/balcony/pkg/protocol"
	"github.com/balcony-dev/balcony/pkg/report"
)

// rejections waits for n rejected events from the nooper and returns
// their reasons.
func rejections(t *testing.T, evs *events, n int) []string {
	t.Helper()
	eventually(t, bustest.Patience, fmt.Sprintf("%d rejected events", n), func() bool { return len(evs.of("rejected", "")) >= n })
	var reasons []string
	for _, ev := range evs.of("rejected", "") {
		reason, _ := ev.Data["reason"].(string)
		if ev.Service != "nooper" {
			t.Errorf("rejected event %+v, want the nooper's", ev)
		}
		reasons = append(reasons, reason)
	}
	return reasons
}

// TestForgedCommitEventsAreRejected publishes commit events whose tip is
// not on main as the repository shows it (a feature branch's commit naming
// itself as its own parent, the same commit with its true parents, a sha
// the repository lacks even after a fetch): each is rejected with a
// reason, none creates a noop or stores the commit, and the real push of
// the feature commit to main afterwards is nooped, compared with its true
// parent. An event for a commit that is on main but lies about it is
// nooped with what git says.
func TestForgedCommitEventsAreRejected(t *testing.T) {
	srv := bustest.Start(t)
	evs := subscribeEvents(t, srv)
	host := newFakeHost(t, bustest.Client(t, srv), fozzie, true, nil)
	code := newCode(t)
	code.Git("checkout", "--quiet", "-b", "feature")
	revF := code.Commit("rewrite the motd", map[string]string{"manifests/site.pp": "# F\n"})
	code.Push("feature")
	code.Git("checkout", "--quiet", "main")
	host.reports = func(rev string) []report.Resource {
		if rev == revF {
			return []report.Resource{motd, pkgNginx, svcNginx, change("File", "/etc/issue", "content", "{md5}0", "{md5}2")}
		}
		return standardReports(rev)
	}
	o := testOptions()
	o.Code = mirror(t, code)
	startNooper(t, srv, o)

	now := time.Now().UTC()
	forged := func(tip string, parents ...string) protocol.CommitEvent {
		return protocol.CommitEvent{
			Schema: protocol.SchemaVersion, Repo: "puppet", Ref: "refs/heads/main", Branch: "main", Old: revB, New: tip, Source: "hook", Time: now,
			Commits: []protocol.Commit{{SHA: tip, Parents: parents, Author: "Kermit", AuthorEmail: "kermit@muppets.example", Subject: "nothing to see", Time: now}},
		}
	}
	missing := strings.Repeat("e", 40)
	cases := []struct {
		name   string
		ev     protocol.CommitEvent
		reason string
	}{
		{"its own parent", forged(revF, revF), "commit " + revF + " is not on the first-parent chain of main"},
		{"a branch not nooped", forged(revF, revB), "commit " + revF + " is not on the first-parent chain of main"},
		{"a sha the repository lacks", forged(missing, revB), "the repository has no commit " + missing},
	}
	for i, tc := range cases {
		// Distinct message ids: the server must not drop them as repeats.
		subject, _ := bus.CommitSubject("puppet")
		if _, err := srv.Publish(context.Background(), subject, fmt.Sprintf("forged-%d", i), tc.ev); err != nil {
			t.Fatal(err)
		}
	}
	// Not rejected, not nooped: nobody asked for that branch.
	other := forged(revF, revB)
	other.Branch, other.Ref = "feature", "refs/heads/feature"
	publishCommitEvent(t, srv, other)
	reasons := rejections(t, evs, len(cases))
	for _, tc := range cases {
		if !slices.ContainsFunc(reasons, func(r string) bool { return strings.Contains(r, tc.reason) }) {
			t.Errorf("%s: no rejection saying %q; got %q", tc.name, tc.reason, reasons)
		}
	}
	eventually(t, bustest.Patience, "every commit event handled", func() bool {
		return consumerAcked(t, srv, "COMMITS", "nooper-commits") >= uint64(len(cases)+1)
	})
	ctx := context.Background()
	commits, err := srv.JS.KeyValue(ctx, "commits")
	if err != nil {
		t.Fatal(err)
	}
	for _, sha := range []string{revF, missing} {
		if _, err := nooper.Load(ctx, srv.JS, sha); !errors.Is(err, nooper.ErrUnknownCommit) {
			t.Errorf("noop of %s after the forged events: %v, want none", sha[:8], err)
		}
		if _, err := commits.Get(ctx, sha); !errors.Is(err, jetstream.ErrKeyNotFound) {
			t.Errorf("commit %s stored from a forged event (%v)", sha[:8], err)
		}
	}
	if got := host.requests(); len(got) != 0 {
		t.Errorf("the host was asked %v for forged events", got)
	}

	// The real push: main moves to F.
	code.Git("merge", "--quiet", "--ff-only", "feature")
	code.Push("main")
	publishCommitEvent(t, srv, forged(revF, revB))
	col := waitReady(t, srv, revF)
	if !slices.Equal(col.Commit.Parents, []string{revB}) || col.Result.Parent != revB || col.Commit.Subject != "rewrite the motd" || col.Commit.Author != "Ada Lovelace" {
		t.Errorf("noop of F: commit %+v compared with %s, want git's: parent B, by Ada", col.Commit, col.Result.Parent)
	}
	if got, want := groupSummary(col), []string{"File[/etc/issue] on " + fozzie}; !slices.Equal(got, want) {
		t.Errorf("groups %q, want %q", got, want)
	}

	// A commit on main named as its own parent by Mallory: nooped as git
	// has it.
	lie := forged(revA, revA)
	lie.Commits[0].Author, lie.Commits[0].AuthorEmail = "Mallory", "mallory@example.com"
	publishCommitEvent(t, srv, lie)
	col = waitReady(t, srv, revA)
	if !slices.Equal(col.Commit.Parents, []string{revP}) || col.Commit.Author != "Ada Lovelace" || col.Commit.AuthorEmail != "ada@example.com" {
		t.Errorf("noop of A: commit %+v, want parent P and author Ada as git says", col.Commit)
	}
	if got, want := groupSummary(col), []string{"Package[nginx] on " + fozzie}; !slices.Equal(got, want) {
		t.Errorf("groups of A %q, want %q", got, want)
	}
	if n := len(evs.of("rejected", "")); n != len(cases) {
		t.Errorf("%d rejected events in the end, want %d", n, len(cases))
	}
}

// TestUnsolicitedReportsAreRejected publishes, before the push, reports
// of the host for the commit and its parent under the run ids a nooper
// would once have used (and as their message ids), and an expired answer:
// each is rejected, none is stored, and the commit's noop still asks the
// host, whose real answers make the delta.
func TestUnsolicitedReportsAreRejected(t *testing.T) {
	srv := bustest.Start(t)
	evs := subscribeEvents(t, srv)
	hostConn := bustest.Client(t, srv)
	host := newFakeHost(t, hostConn, fozzie, true, nil)
	startNooper(t, srv, testOptions())

	ctx := context.Background()
	subject, _ := bus.ReportSubject(protocol.KindNoop, fozzie)
	now := time.Now().UTC()
	forge := func(rev, outcome string) {
		t.Helper()
		id := fmt.Sprintf("noop:%s:%s:1", rev, fozzie)
		r := protocol.RunResult{
			Schema: protocol.SchemaVersion, RunID: id, Kind: protocol.KindNoop, Host: fozzie, Revision: rev,
			Outcome: outcome, StartedAt: now, FinishedAt: now,
		}
		if outcome == protocol.OutcomeDone {
			r.Report = &report.Report{Host: fozzie, Noop: true, PuppetStatus: "unchanged", Time: now}
		}
		if _, err := hostConn.Publish(ctx, subject, id+":"+outcome, r); err != nil {
			t.Fatal(err)
		}
	}
	forge(revA, protocol.OutcomeDone)
	forge(revP, protocol.OutcomeDone)
	forge(revB, protocol.OutcomeExpired)
	reasons := rejections(t, evs, 3)
	for _, r := range reasons {
		if !strings.Contains(r, "answers no run the nooper asked") {
			t.Errorf("rejection %q, want it to say no run was asked", r)
		}
	}
	reports, err := srv.JS.KeyValue(ctx, "reports")
	if err != nil {
		t.Fatal(err)
	}
	for _, rev := range []string{revA, revP, revB} {
		if _, err := reports.Get(ctx, rev+"."+fozzie); !errors.Is(err, jetstream.ErrKeyNotFound) {
			t.Errorf("an unsolicited report of %s is stored (%v)", rev[:8], err)
		}
	}

	ev := pushEvent()
	ev.Commits, ev.New = ev.Commits[:1], revA
	publishCommitEvent(t, srv, ev)
	col := waitReady(t, srv, revA)
	asked := host.requests()
	if len(asked[revA]) != 1 || len(asked[revP]) != 1 {
		t.Errorf("the host was asked %v, want once for A and for P", asked)
	}
	if got, want := groupSummary(col), []string{"Package[nginx] on " + fozzie}; !slices.Equal(got, want) {
		t.Errorf("groups %q, want %q from the host's real answers", got, want)
	}
	if n := len(evs.of("rejected", "")); n != 3 {
		t.Errorf("%d rejected events in the end, want 3", n)
	}
}

// TestLateAnswerToAnEarlierAttempt: a host that answers the first run of a
// need only after it was asked again is taken at its word: the run was
// asked, and the need is answered without a third attempt.
func TestLateAnswerToAnEarlierAttempt(t *testing.T) {
	srv := bustest.Start(t)
	evs := subscribeEvents(t, srv)
	slow := newFakeHost(t, bustest.Client(t, srv), waldorf, false, nil)
	clock := newTestClock()
	o := testOptions()
	o.RunTimeout, o.MaxAttempts, o.Now = time.Minute, 3, clock.Now
	startNooper(t, srv, o)

	ev := pushEvent()
	ev.Commits, ev.New = ev.Commits[:1], revA
	publishCommitEvent(t, srv, ev)
	eventually(t, bustest.Patience, "the first runs asked", func() bool {
		asked := slow.requests()
		return len(asked[revA]) == 1 && len(asked[revP]) == 1
	})
	clock.Advance(o.RunTimeout + time.Second)
	eventually(t, bustest.Patience, "the second runs asked", func() bool {
		asked := slow.requests()
		return len(asked[revA]) == 2 && len(asked[revP]) == 2
	})
	first := slow.requests()
	for _, rev := range []string{revA, revP} {
		slow.publish(protocol.RunRequest{ID: first[rev][0], Kind: protocol.KindNoop, Host: waldorf, Revision: rev})
	}
	col := waitReady(t, srv, revA)
	if len(col.Result.Unanswered) != 0 {
		t.Errorf("unanswered %v, want none: the first runs' answers count", col.Result.Unanswered)
	}
	if got, want := groupSummary(col), []string{"Package[nginx] on " + waldorf}; !slices.Equal(got, want) {
		t.Errorf("groups %q, want %q", got, want)
	}
	if asked := slow.requests(); len(asked[revA]) != 2 || len(asked[revP]) != 2 {
		t.Errorf("the host was asked %v, want twice per revision", asked)
	}
	if n := len(evs.of("rejected", "")); n != 0 {
		t.Errorf("rejected %+v, want nothing", evs.of("rejected", ""))
	}
}

// TestLateAnswerAfterTheNoopFinished: an answer to a run of a finished
// noop is stored for reuse until a run timeout past the run's deadline;
// later it is rejected.
func TestLateAnswerAfterTheNoopFinished(t *testing.T) {
	srv := bustest.Start(t)
	evs := subscribeEvents(t, srv)
	slow := newFakeHost(t, bustest.Client(t, srv), waldorf, false, nil)
	clock := newTestClock()
	o := testOptions()
	o.RunTimeout, o.MaxAttempts, o.Now = time.Minute, 1, clock.Now
	startNooper(t, srv, o)

	ev := pushEvent()
	ev.Commits, ev.New = ev.Commits[:1], revA
	publishCommitEvent(t, srv, ev)
	eventually(t, bustest.Patience, "the runs asked", func() bool {
		asked := slow.requests()
		return len(asked[revA]) == 1 && len(asked[revP]) == 1
	})
	clock.Advance(o.RunTimeout + time.Second)
	if col := waitReady(t, srv, revA); !slices.Equal(col.Result.Unanswered, []string{waldorf}) {
		t.Fatalf("unanswered %v, want %s", col.Result.Unanswered, waldorf)
	}
	asked := slow.requests()
	ctx := context.Background()
	reports, err := srv.JS.KeyValue(ctx, "reports")
	if err != nil {
		t.Fatal(err)
	}
	slow.publish(protocol.RunRequest{ID: asked[revA][0], Kind: protocol.KindNoop, Host: waldorf, Revision: revA})
	eventually(t, bustest.Patience, "the late answer stored", func() bool {
		_, err := reports.Get(ctx, revA+"."+waldorf)
		return err == nil
	})
	clock.Advance(o.RunTimeout + time.Second) // past the run's deadline and a run timeout
	slow.publish(protocol.RunRequest{ID: asked[revP][0], Kind: protocol.KindNoop, Host: waldorf, Revision: revP})
	reasons := rejections(t, evs, 1)
	if len(reasons) != 1 || !strings.Contains(reasons[0], asked[revP][0]) {
		t.Errorf("rejections %q, want one of the too late answer", reasons)
	}
	if _, err := reports.Get(ctx, revP+"."+waldorf); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Errorf("the too late answer is stored (%v)", err)
	}
}
