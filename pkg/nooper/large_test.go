package nooper_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/bus/bustest"
	"github.com/balcony-dev/balcony/pkg/nooper"
	"github.com/balcony-dev/balcony/pkg/protocol"
	"github.com/balcony-dev/balcony/pkg/report"
)

// bigReports is standardReports plus, from revision A on, a file whose
// diff is a third of the bus's payload limit and names the host: each
// report fits in a message, but a delta of two hosts (each change in its
// group and in the host's own delta) does not.
func bigReports(host string, limit int) func(string) []report.Resource {
	line := "+" + host + " was here\n"
	diff := "--- /etc/big\n+++ /etc/big\n@@ -0,0 +1 @@\n" + strings.Repeat(line, limit*3/5/len(line)) // two exceed a value
	big := report.Resource{ID: "File[/etc/big]", Type: "File", Title: "/etc/big", File: "manifests/site.pp", Line: 9,
		Events: []report.Event{{Property: "content", Previous: "{md5}0", Desired: "{md5}" + host, Status: "noop"}}, Diff: diff}
	return func(rev string) []report.Resource {
		rs := standardReports(rev)
		if rev != revP {
			rs = append(rs, big)
		}
		return rs
	}
}

// liveReady counts the noop.ready announcements per commit as a live
// subscriber gets them: every publish, repeats the stream drops included.
type liveReady struct {
	mu    sync.Mutex
	count map[string]int
}

func subscribeLiveReady(t *testing.T, conn *bus.Conn) *liveReady {
	t.Helper()
	l := &liveReady{count: map[string]int{}}
	sub, err := conn.NC.Subscribe(bus.EventPrefix+"noop.ready", func(m *nats.Msg) {
		var ev protocol.Event
		if err := json.Unmarshal(m.Data, &ev); err != nil {
			t.Errorf("noop.ready: %v", err)
			return
		}
		l.mu.Lock()
		l.count[ev.Commit]++
		l.mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.NC.Flush(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	return l
}

func (l *liveReady) of(sha string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.count[sha]
}

// largePush noops A, whose delta is over the payload limit, on two hosts;
// meanwhile is called once A is asked for. Then, once A is settled, B: B's announcement is the barrier after which
// a repeated announcement of A would have been seen.
func largePush(t *testing.T, srv *bus.Conn, meanwhile func(*liveReady)) {
	t.Helper()
	limit := srv.PayloadLimit()
	for _, name := range []string{"statler.example.com", "waldorf.example.com"} {
		h := newFakeHost(t, srv, name, true, nil)
		h.reports = bigReports(name, limit)
	}
	live := subscribeLiveReady(t, srv)
	ev := pushEvent()
	ev.Commits, ev.New = ev.Commits[:1], revA
	publishCommitEvent(t, srv, ev)
	meanwhile(live)
	col := waitReady(t, srv, revA)
	eventually(t, bustest.Patience, "the noop of A recorded as announced", func() bool {
		c, err := nooper.Load(context.Background(), srv.JS, revA)
		return err == nil && c.Announced
	})
	if len(col.Result.Groups) != 3 {
		t.Fatalf("groups of A: %q, want Package[nginx] and File[/etc/big] twice", groupSummary(col))
	}

	ev = pushEvent()
	ev.Commits, ev.Old = ev.Commits[1:], revA
	publishCommitEvent(t, srv, ev)
	eventually(t, bustest.Patience, "noop.ready of B", func() bool { return live.of(revB) > 0 })
	if n := live.of(revA); n != 1 {
		t.Errorf("noop.ready of A announced %d times, want once", n)
	}
}

// TestResultOverThePayloadLimit: a delta larger than a noops value is
// stored in the object store with a pointer in the record, announced once,
// and served whole, in chunks, by the collection and show services.
func TestResultOverThePayloadLimit(t *testing.T) {
	srv := bustest.Start(t)
	startNooper(t, srv, testOptions())
	largePush(t, srv, func(*liveReady) {})
	ctx := context.Background()
	limit := srv.PayloadLimit()

	kv, err := srv.JS.KeyValue(ctx, "noops")
	if err != nil {
		t.Fatal(err)
	}
	e, err := kv.Get(ctx, revA)
	if err != nil {
		t.Fatal(err)
	}
	var record nooper.Collection
	if err := bus.Unmarshal(e.Value(), &record); err != nil {
		t.Fatal(err)
	}
	if record.Result != nil || record.ResultObject == "" {
		t.Fatalf("record of A: result %v, object %q; want the result in the object store", record.Result != nil, record.ResultObject)
	}
	obs, err := srv.JS.ObjectStore(ctx, nooper.ResultsBucket)
	if err != nil {
		t.Fatal(err)
	}
	info, err := obs.GetInfo(ctx, record.ResultObject)
	if err != nil {
		t.Fatalf("object %s: %v", record.ResultObject, err)
	}
	if info.Size <= uint64(limit) {
		t.Fatalf("object of %d bytes, not over the limit of %d", info.Size, limit)
	}

	stored, err := nooper.Load(ctx, srv.JS, revA)
	if err != nil {
		t.Fatal(err)
	}
	client := nooper.Client{NC: bustest.Client(t, srv).NC}
	col, err := client.Collection(ctx, revA[:8])
	if err != nil {
		t.Fatalf("collection service: %v", err)
	}
	if col.Commit.SHA != revA || col.State != nooper.StateReady || col.Result == nil || col.Result.Digest() != stored.Result.Digest() {
		t.Fatalf("collection service gave %s %s (result %v), want A ready with the stored result", col.Commit.SHA, col.State, col.Result != nil)
	}
	if got, want := groupsOf(col, "statler.example.com"), groupsOf(stored, "statler.example.com"); got != want || got == 0 {
		t.Errorf("statler's own delta: %d changes served, %d stored", got, want)
	}
	for _, g := range col.Result.Groups {
		if g.Resource.ID == "File[/etc/big]" && !strings.Contains(g.Resource.Diff, g.Hosts[0]+" was here") {
			t.Errorf("the diff of %s on %v was not served whole", g.Resource.ID, g.Hosts)
		}
	}

	doc, data, err := client.Show(ctx, revA)
	if err != nil {
		t.Fatalf("show service: %v", err)
	}
	// The review trims diffs: it fits in a message here, and would come
	// in chunks as the collection did if it did not.
	if len(data) == 0 || !doc.Complete || doc.Result == nil || len(doc.Result.Groups) != 3 {
		t.Fatalf("show: %d bytes, complete %v, result %v; want the review of A's 3 groups", len(data), doc.Complete, doc.Result != nil)
	}
	waited, _, err := client.Wait(ctx, revA, bustest.Patience, bustest.Patience, nil)
	if err != nil || !waited.Complete {
		t.Fatalf("wait: complete %v, %v", waited.Complete, err)
	}
	if _, err := client.Collection(ctx, strings.Repeat("c", 40)); !errors.Is(err, nooper.ErrUnknownCommit) {
		t.Errorf("collection of an unknown commit: %v, want ErrUnknownCommit", err)
	}
}

// TestResultStoreFailureRetriedWithoutAnnouncing: while the object store
// is missing, the finished delta cannot be stored; it is retried, nothing
// is announced meanwhile, and once stored it is announced once.
func TestResultStoreFailureRetriedWithoutAnnouncing(t *testing.T) {
	srv := bustest.Start(t)
	ctx := context.Background()
	if err := srv.JS.DeleteObjectStore(ctx, nooper.ResultsBucket); err != nil {
		t.Fatal(err)
	}
	logs := &logLines{}
	o := testOptions()
	o.Log = zerolog.New(logs)
	startNooper(t, srv, o)
	largePush(t, srv, func(live *liveReady) {
		eventually(t, bustest.Patience, "three failed attempts to store A", func() bool {
			return logs.count(`"level":"warn"`, `"commit":"`+revA+`"`) >= 3
		})
		if n := live.of(revA); n != 0 {
			t.Errorf("noop.ready of A announced %d times before it was stored", n)
		}
		if !strings.Contains(logs.String(), "object store") {
			t.Errorf("the failure does not name the object store:\n%s", logs)
		}
		if err := bus.ProvisionDeclared(ctx, srv.JS); err != nil {
			t.Fatal(err)
		}
	})
}

// logLines is a log written to by the nooper and read by the test.
type logLines struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// count counts the lines that contain every one of parts.
func (l *logLines) count(parts ...string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, line := range strings.Split(l.buf.String(), "\n") {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all {
			n++
		}
	}
	return n
}

func (l *logLines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}
