package nooper_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/bus/bustest"
	"github.com/balcony-dev/balcony/pkg/nooper"
	"github.com/balcony-dev/balcony/pkg/protocol"
	"github.com/balcony-dev/balcony/pkg/report"
)

// TestReportService: balcony.nooper.report answers a host's stored noop
// of a revision, whole even when it is larger than a message, and 404
// (ErrNoReport) when there is none.
func TestReportService(t *testing.T) {
	srv := bustest.Start(t)
	hostConn := bustest.Client(t, srv)
	newFakeHost(t, hostConn, fozzie, true, nil)
	startNooper(t, srv, testOptions())
	ev := pushEvent()
	ev.Commits, ev.New = ev.Commits[:1], revA
	publishCommitEvent(t, srv, ev)
	waitReady(t, srv, revA)
	ctx := context.Background()
	cl := bustest.Client(t, srv)
	client := nooper.Client{NC: cl.NC}

	r, err := client.Report(ctx, revA, fozzie)
	if err != nil {
		t.Fatalf("report of A on fozzie: %v", err)
	}
	var ids []string
	for _, res := range r.Report.Resources {
		ids = append(ids, res.ID)
	}
	if r.Revision != revA || r.Host != fozzie || r.FinishedAt.IsZero() || !strings.HasPrefix(r.RunID, "noop:"+revA+":"+fozzie+":1:") ||
		!slices.Equal(ids, []string{motd.ID, pkgNginx.ID}) {
		t.Errorf("report of A on fozzie: %s of %s on %s finished %s, resources %v; want fozzie's noop of A", r.RunID, r.Revision, r.Host, r.FinishedAt, ids)
	}

	for _, tc := range []struct{ rev, host string }{
		{revA, "nobody.example.com"},      // a host it never asked
		{strings.Repeat("c", 40), fozzie}, // a revision it never nooped
		{revG, fozzie},                    // a revision no collection needed
	} {
		if _, err := client.Report(ctx, tc.rev, tc.host); !errors.Is(err, nooper.ErrNoReport) {
			t.Errorf("report of %s on %s: %v, want ErrNoReport", tc.rev[:8], tc.host, err)
		}
	}
	for _, payload := range []string{revA, revA[:8] + " " + fozzie, revA + " " + fozzie + " extra", revA + " no*host"} {
		msg, err := cl.NC.Request(nooper.ReportSubject, []byte(payload), 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if code := msg.Header.Get(micro.ErrorCodeHeader); code != "400" {
			t.Errorf("report request %q answered %q, want 400", payload, code)
		}
	}

	// A report larger than a message (stored as the bucket allows) comes
	// in chunks and whole.
	limit := srv.PayloadLimit()
	big := report.Resource{ID: "File[/etc/big]", Type: "File", Title: "/etc/big", Diff: strings.Repeat("+big line\n", limit/10+100)}
	stored := protocol.RunResult{
		Schema: protocol.SchemaVersion, RunID: "noop:" + revG + ":" + fozzie + ":1:rtest", Kind: protocol.KindNoop, Host: fozzie, Revision: revG,
		Outcome: protocol.OutcomeDone, FinishedAt: time.Now().UTC(), Report: &report.Report{Host: fozzie, Noop: true, Resources: []report.Resource{big}},
	}
	data, err := bus.Marshal(stored)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) <= limit {
		t.Fatalf("the big report is %d bytes, not over the limit %d", len(data), limit)
	}
	kv, err := srv.JS.KeyValue(ctx, "reports")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, revG+"."+fozzie, data); err != nil {
		t.Fatal(err)
	}
	var asked atomic.Int32
	sub, err := srv.NC.Subscribe(nooper.ReportSubject, func(*nats.Msg) { asked.Add(1) })
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe() //nolint:errcheck // test cleanup
	if err := srv.NC.Flush(); err != nil {
		t.Fatal(err)
	}
	got, err := client.Report(ctx, revG, fozzie)
	if err != nil {
		t.Fatalf("big report: %v", err)
	}
	if got.RunID != stored.RunID || len(got.Report.Resources) != 1 || got.Report.Resources[0].Diff != big.Diff {
		t.Errorf("big report served as %s with %d resources, want the stored one whole", got.RunID, len(got.Report.Resources))
	}
	eventually(t, 10*time.Second, "the big report asked for in chunks", func() bool { return asked.Load() >= 2 })
}
