package nooper_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/bus/bustest"
	"github.com/balcony-dev/balcony/pkg/delta"
	"github.com/balcony-dev/balcony/pkg/metrics/metricstest"
	"github.com/balcony-dev/balcony/pkg/nooper"
	"github.com/balcony-dev/balcony/pkg/protocol"
	"github.com/balcony-dev/balcony/pkg/report"
)

const (
	fozzie  = "fozzie.example.com"
	statler = "statler.example.com"
	waldorf = "waldorf.example.com"
)

// TestNoopOfAPush follows a push of two commits A←B through the nooper:
// each host is asked once per revision (P, A, B), and each commit's delta
// shows only what it brings.
func TestNoopOfAPush(t *testing.T) {
	srv := bustest.Start(t)
	hostConn := bustest.Client(t, srv)
	evs := subscribeEvents(t, srv)
	hosts := []*fakeHost{newFakeHost(t, hostConn, fozzie, true, nil), newFakeHost(t, hostConn, statler, true, nil)}
	startNooper(t, srv, testOptions())

	publishCommitEvent(t, bustest.Client(t, srv), pushEvent())
	checkPushResult(t, srv, evs, []string{fozzie, statler})

	for _, h := range hosts {
		got := h.requests()
		for _, rev := range []string{revP, revA, revB} {
			// Run ids end with the asking collection's unguessable tag.
			want := fmt.Sprintf("noop:%s:%s:1:r", rev, h.name)
			if len(got[rev]) != 1 || !strings.HasPrefix(got[rev][0], want) {
				t.Errorf("%s was asked %v for %s, want one run %s…", h.name, got[rev], rev[:8], want)
			}
		}
		if len(got) != 3 {
			t.Errorf("%s was asked for %d revisions, want 3: %v", h.name, len(got), got)
		}
	}
	if n := len(evs.of("noop.started", "")); n != 2 {
		t.Errorf("%d noop.started events, want 2", n)
	}
	if n := len(evs.of("rejected", "")); n != 0 {
		t.Errorf("%d rejected events, want none: %+v", n, evs.of("rejected", ""))
	}

	// The same event again (a retry outside the duplicate window, or
	// another source) starts nothing new.
	ev := pushEvent()
	ev.Source = "webhook"
	subject, _ := bus.CommitSubject(ev.Repo)
	if _, err := srv.Publish(context.Background(), subject, "puppet:again", ev); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the repeated commit event acknowledged", func() bool {
		return consumerAcked(t, srv, "COMMITS", "nooper-commits") >= 2
	})
	for _, h := range hosts {
		for rev, ids := range h.requests() {
			if len(ids) != 1 {
				t.Errorf("after the repeated event %s was asked %v for %s", h.name, ids, rev[:8])
			}
		}
	}
	if n := len(evs.of("noop.started", "")); n != 2 {
		t.Errorf("%d noop.started events after the repeated event, want 2", n)
	}
}

func consumerAcked(t *testing.T, conn *bus.Conn, stream, name string) uint64 {
	t.Helper()
	c, err := conn.JS.Consumer(context.Background(), stream, name)
	if err != nil {
		return 0
	}
	info, err := c.Info(context.Background())
	if err != nil {
		return 0
	}
	return info.AckFloor.Stream
}

// TestMalformedMessagesAreRejected publishes garbage and wrong-schema
// messages on the commit and report subjects: each is rejected with a
// reason on balcony.event.rejected, and the nooper goes on to noop the
// next valid push.
func TestMalformedMessagesAreRejected(t *testing.T) {
	srv := bustest.Start(t)
	hostConn := bustest.Client(t, srv)
	evs := subscribeEvents(t, srv)
	newFakeHost(t, hostConn, fozzie, true, nil)
	startNooper(t, srv, testOptions())

	ctx := context.Background()
	commitSubject, _ := bus.CommitSubject("puppet")
	reportSubject, _ := bus.ReportSubject(protocol.KindNoop, fozzie)
	raw := func(subject string, data []byte) {
		t.Helper()
		if _, err := srv.JS.Publish(ctx, subject, data); err != nil {
			t.Fatal(err)
		}
	}
	encode := func(v any) []byte {
		t.Helper()
		data, err := bus.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	future := pushEvent()
	future.Schema = protocol.SchemaVersion + 1
	badSHA := pushEvent()
	badSHA.New = "not-a-sha"
	rewind := pushEvent() // a branch moved back: no commits, not malformed
	rewind.Commits, rewind.New = nil, revP
	cases := []struct {
		name, subject string
		data          []byte
		reason        string
	}{
		{"commit: garbage", commitSubject, []byte("\xc1 this is not msgpack"), "not a msgpack map"},
		{"commit: future schema", commitSubject, encode(future), fmt.Sprintf("schema version %d", protocol.SchemaVersion+1)},
		{"commit: not a sha", commitSubject, encode(badSHA), "is not a sha"},
		{"report: garbage", reportSubject, []byte("{\"json\": true}"), "not a msgpack map"},
		{"report: a commit event", reportSubject, encode(pushEvent()), "report"},
		{"report: another host's", reportSubject, encode(protocol.RunResult{
			Schema: protocol.SchemaVersion, RunID: "x", Kind: protocol.KindNoop, Host: waldorf, Revision: revA, Outcome: protocol.OutcomeDone,
		}), waldorf},
	}
	raw(commitSubject, encode(rewind))
	for _, tc := range cases {
		raw(tc.subject, tc.data)
	}
	eventually(t, 10*time.Second, fmt.Sprintf("%d rejected events", len(cases)), func() bool { return len(evs.of("rejected", "")) >= len(cases) })

	rejected := evs.of("rejected", "")
	for _, tc := range cases {
		found := slices.ContainsFunc(rejected, func(ev protocol.Event) bool {
			reason, _ := ev.Data["reason"].(string)
			return ev.Service == "nooper" && ev.Data["subject"] == tc.subject &&
				strings.Contains(reason, "malformed message") && strings.Contains(reason, tc.reason)
		})
		if !found {
			t.Errorf("%s: no rejected event from the nooper on %s with a reason mentioning %q; got %+v", tc.name, tc.subject, tc.reason, rejected)
		}
	}
	if len(rejected) != len(cases) {
		t.Errorf("%d rejected events, want %d: %+v", len(rejected), len(cases), rejected)
	}

	// The nooper is still working.
	publishCommitEvent(t, srv, pushEvent())
	checkPushResult(t, srv, evs, []string{fozzie})

	// Rejected messages are terminated, not redelivered.
	for _, name := range []string{"nooper-commits", "nooper-reports"} {
		stream := "COMMITS"
		if name == "nooper-reports" {
			stream = "REPORTS"
		}
		c, err := srv.JS.Consumer(ctx, stream, name)
		if err != nil {
			t.Fatal(err)
		}
		eventually(t, 5*time.Second, name+" has nothing pending", func() bool {
			info, err := c.Info(ctx)
			return err == nil && info.NumAckPending == 0 && info.NumPending == 0
		})
	}
	if n := len(evs.of("rejected", "")); n != len(cases) {
		t.Errorf("%d rejected events in the end, want %d", n, len(cases))
	}
}

// TestHostThatNeverAnswers: a silent host is asked MaxAttempts times, a
// RunTimeout apart, and the collection finishes without it. The nooper's
// clock moves past each deadline only once the answering host's answers
// are in, so that it is never asked twice, however slow the machine.
func TestHostThatNeverAnswers(t *testing.T) {
	srv := bustest.Start(t)
	hostConn := bustest.Client(t, srv)
	evs := subscribeEvents(t, srv)
	talker := newFakeHost(t, hostConn, fozzie, true, nil)
	silent := newFakeHost(t, hostConn, waldorf, false, nil)
	clock := newTestClock()
	o := testOptions()
	o.RunTimeout, o.MaxAttempts, o.Now = time.Minute, 3, clock.Now
	reg := prometheus.NewRegistry()
	o.Registerer = reg
	startNooper(t, srv, o)
	client := nooper.Client{NC: srv.NC}

	ev := pushEvent()
	ev.Commits = ev.Commits[:1] // A alone
	ev.New = revA
	publishCommitEvent(t, srv, ev)
	for attempt := 1; attempt <= o.MaxAttempts; attempt++ {
		eventually(t, time.Minute, fmt.Sprintf("attempt %d asked of the silent host, the other host's answers in", attempt), func() bool {
			asked := silent.requests()
			if len(asked[revA]) != attempt || len(asked[revP]) != attempt {
				return false
			}
			doc, _, err := client.Show(context.Background(), revA)
			return err == nil && doc.Progress != nil && doc.Progress.Answered == 1
		})
		clock.Advance(o.RunTimeout + time.Second)
	}

	col := waitReady(t, srv, revA)
	if want := []string{waldorf}; !slices.Equal(col.Result.Unanswered, want) {
		t.Errorf("unanswered %v, want %v", col.Result.Unanswered, want)
	}
	if got, want := groupSummary(col), []string{"Package[nginx] on " + fozzie}; !slices.Equal(got, want) {
		t.Errorf("groups %q, want %q", got, want)
	}
	took := col.Finished.Sub(col.Started)
	if took < time.Duration(o.MaxAttempts)*o.RunTimeout || took >= o.CollectionTimeout {
		t.Errorf("collection took %s of the nooper's clock, want at least %d run timeouts (%s) and less than the collection timeout %s",
			took, o.MaxAttempts, time.Duration(o.MaxAttempts)*o.RunTimeout, o.CollectionTimeout)
	}

	for _, rev := range []string{revA, revP} {
		var want []string
		for i := 1; i <= o.MaxAttempts; i++ {
			want = append(want, fmt.Sprintf("noop:%s:%s:%d:%s", rev, waldorf, i, col.RunTag))
		}
		if got := silent.requests()[rev]; !slices.Equal(got, want) {
			t.Errorf("the silent host was asked %v for %s, want %v", got, rev[:8], want)
		}
		if got := talker.requests()[rev]; len(got) != 1 {
			t.Errorf("the answering host was asked %v for %s, want once", got, rev[:8])
		}
	}
	for _, need := range col.Needs {
		if need.Host == waldorf && (need.Answered || need.Attempts != o.MaxAttempts) {
			t.Errorf("need %+v, want unanswered after %d attempts", need, o.MaxAttempts)
		}
	}
	ready := evs.of("noop.ready", revA)
	eventually(t, 5*time.Second, "a noop.ready event", func() bool { ready = evs.of("noop.ready", revA); return len(ready) > 0 })
	if un, _ := ready[0].Data["unanswered"].([]any); len(un) != 1 || un[0] != waldorf || !strings.Contains(ready[0].Text, "1 host not answered") {
		t.Errorf("noop.ready event %+v, want %s unanswered", ready[0], waldorf)
	}

	// The metrics: two revisions asked once of the talker and three times
	// of the silent host; each of the silent host's attempts expired (the
	// first two asked again, the last given up on); the talker's two
	// answers taken; one incomplete collection.
	for _, m := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"balcony_runs_asked_total", []string{"kind", "noop"}, 2 + 2*3},
		{"balcony_runs_expired_total", []string{"kind", "noop"}, 2 * 3},
		{"balcony_nooper_collection_seconds", []string{"outcome", "incomplete"}, 1},
		{"balcony_nooper_collection_seconds", []string{"outcome", "complete"}, 0},
	} {
		if got := metricstest.Value(t, reg, m.name, m.labels...); got != m.want {
			t.Errorf("%s%v = %v, want %v", m.name, m.labels, got, m.want)
		}
	}
	if got := metricstest.Value(t, reg, "balcony_runs_answered_total", "kind", "noop", "outcome", protocol.OutcomeDone); got < 2 {
		t.Errorf("balcony_runs_answered_total = %v, want the talker's 2 answers", got)
	}
}

// TestNooperRestartResumesCollection stops the nooper while hosts hold
// their answers and starts another on the same bus: the collection
// completes, each host counted once and asked once per revision.
func TestNooperRestartResumesCollection(t *testing.T) {
	srv := bustest.Start(t)
	hostConn := bustest.Client(t, srv)
	evs := subscribeEvents(t, srv)
	holdFozzie, holdStatler := make(chan struct{}), make(chan struct{})
	hosts := []*fakeHost{newFakeHost(t, hostConn, fozzie, true, holdFozzie), newFakeHost(t, hostConn, statler, true, holdStatler)}
	o := testOptions()
	ctx := context.Background()

	nooperConn := bustest.Client(t, srv)
	first := startNooper(t, nooperConn, o)
	publishCommitEvent(t, srv, pushEvent())
	eventually(t, 10*time.Second, "every host asked for P, A and B", func() bool {
		for _, h := range hosts {
			if len(h.requests()) != 3 {
				return false
			}
		}
		return true
	})
	eventually(t, 10*time.Second, "both collections saved with their runs", func() bool {
		for _, sha := range []string{revA, revB} {
			c, err := nooper.Load(ctx, srv.JS, sha)
			if err != nil || c.State != nooper.StateCollecting || len(c.Needs) != 4 {
				return false
			}
			for _, need := range c.Needs {
				if need.RunID == "" || need.Answered {
					return false
				}
			}
		}
		return true
	})
	first.stop(t)

	close(holdFozzie) // answered while no nooper runs
	eventually(t, 10*time.Second, "fozzie's three reports stored", func() bool {
		s, err := srv.JS.Stream(ctx, "REPORTS")
		if err != nil {
			return false
		}
		info, err := s.Info(ctx)
		return err == nil && info.State.Msgs == 3
	})
	startNooper(t, bustest.Client(t, srv), o)
	close(holdStatler) // answered to the new nooper
	checkPushResult(t, srv, evs, []string{fozzie, statler})

	for _, h := range hosts {
		for _, rev := range []string{revP, revA, revB} {
			if got := h.requests()[rev]; len(got) != 1 {
				t.Errorf("%s was asked %v for %s, want once", h.name, got, rev[:8])
			}
		}
	}
	for _, sha := range []string{revA, revB} {
		col, err := nooper.Load(ctx, srv.JS, sha)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]int{}
		for _, need := range col.Needs {
			seen[need.Host+" "+need.Revision]++
			if !need.Answered || need.Attempts != 1 {
				t.Errorf("noop of %s: need %+v, want answered at the first attempt", sha[:8], need)
			}
		}
		for k, n := range seen {
			if n != 1 {
				t.Errorf("noop of %s needs %s %d times", sha[:8], k, n)
			}
		}
		if n := len(evs.of("noop.started", sha)); n != 1 {
			t.Errorf("%d noop.started events for %s, want 1", n, sha[:8])
		}
	}
}

// TestStaleHostIsListedNotAsked: a host whose last heartbeat is older than
// StaleHost is listed as not answering, without being asked.
func TestStaleHostIsListedNotAsked(t *testing.T) {
	srv := bustest.Start(t)
	hostConn := bustest.Client(t, srv)
	newFakeHost(t, hostConn, fozzie, true, nil)
	stale := newFakeHost(t, hostConn, waldorf, true, nil)
	kv, err := srv.JS.KeyValue(context.Background(), "hosts")
	if err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-2 * time.Hour).UTC()
	data, _ := bus.Marshal(protocol.HostInfo{Schema: protocol.SchemaVersion, Host: waldorf, Started: old, Seen: old})
	if _, err := kv.Put(context.Background(), waldorf, data); err != nil {
		t.Fatal(err)
	}
	o := testOptions()
	o.StaleHost = time.Hour
	reg := prometheus.NewRegistry()
	o.Registerer = reg
	startNooper(t, srv, o)
	eventually(t, 10*time.Second, "two hosts known, one of them stale, in the metrics", func() bool {
		return metricstest.Value(t, reg, "balcony_nooper_hosts") == 2 && metricstest.Value(t, reg, "balcony_nooper_hosts_stale") == 1
	})

	ev := pushEvent()
	ev.Commits, ev.New = ev.Commits[:1], revA
	publishCommitEvent(t, srv, ev)
	col := waitReady(t, srv, revA)
	if want := []string{waldorf}; !slices.Equal(col.Result.Unanswered, want) {
		t.Errorf("unanswered %v, want %v", col.Result.Unanswered, want)
	}
	if got := stale.requests(); len(got) != 0 {
		t.Errorf("the stale host was asked %v", got)
	}
	for _, need := range col.Needs {
		if need.Host == waldorf && need.RunID != "" {
			t.Errorf("a run %s was asked of the stale host", need.RunID)
		}
	}
}

// TestUnannouncedResultIsAnnouncedAfterRestart: a collection saved as
// ready whose noop.ready was never published (the nooper died in
// between) is announced when the nooper starts again.
func TestUnannouncedResultIsAnnouncedAfterRestart(t *testing.T) {
	srv := bustest.Start(t)
	evs := subscribeEvents(t, srv)
	now := time.Now().UTC()
	col := nooper.Collection{
		Schema: protocol.SchemaVersion, Repo: "puppet", Branch: "main", State: nooper.StateReady,
		Commit:  protocol.Commit{SHA: revA, Parents: []string{revP}, Subject: "install nginx"},
		Started: now, Finished: now, Result: &delta.Result{Commit: revA, Parent: revP},
	}
	data, err := bus.Marshal(col)
	if err != nil {
		t.Fatal(err)
	}
	kv, err := srv.JS.KeyValue(context.Background(), "noops")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(context.Background(), revA, data); err != nil {
		t.Fatal(err)
	}
	startNooper(t, srv, testOptions())
	eventually(t, 10*time.Second, "noop.ready of the unannounced result", func() bool { return len(evs.of("noop.ready", revA)) == 1 })
	eventually(t, 10*time.Second, "the collection marked announced", func() bool {
		c, err := nooper.Load(context.Background(), srv.JS, revA)
		return err == nil && c.Announced
	})
}

// TestParentFailedComparesWithEarlierCommit: when the parent's noop fails
// on a host, the commit is compared there with the nearest earlier commit
// whose noop succeeded (found through the stored commits), and the result
// says so.
func TestParentFailedComparesWithEarlierCommit(t *testing.T) {
	srv := bustest.Start(t)
	hostConn := bustest.Client(t, srv)
	host := newFakeHost(t, hostConn, fozzie, true, nil)
	host.failing = map[string]bool{revP: true}
	host.reports = func(rev string) []report.Resource {
		if rev == revG {
			return []report.Resource{motd}
		}
		return standardReports(rev)
	}
	startNooper(t, srv, testOptions())

	now := time.Now().UTC()
	first := protocol.CommitEvent{
		Schema: protocol.SchemaVersion, Repo: "puppet", Ref: "refs/heads/main", Branch: "main", Old: revG, New: revP, Time: now,
		Commits: []protocol.Commit{{SHA: revP, Parents: []string{revG}, Subject: "break the catalog", Time: now}},
	}
	publishCommitEvent(t, srv, first)
	waitReady(t, srv, revP)
	ev := pushEvent()
	ev.Commits, ev.New = ev.Commits[:1], revA
	publishCommitEvent(t, srv, ev)
	col := waitReady(t, srv, revA)

	if got, want := groupSummary(col), []string{"Package[nginx] on " + fozzie}; !slices.Equal(got, want) {
		t.Errorf("groups %q, want %q (compared with %s, not with the failed parent)", got, want, revG[:8])
	}
	if !slices.Equal(col.Chain, []string{revP, revG}) {
		t.Errorf("chain %v, want the parent then its parent", col.Chain)
	}
	notes := col.Result.Baselines
	if len(notes) != 1 || notes[0].Host != fozzie || notes[0].Revision != revG || notes[0].Reason != delta.ReasonParentFailed {
		t.Errorf("baseline notes %+v, want fozzie compared with %s because the parent failed", notes, revG[:8])
	}
}
