package approver_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/nooper"
	"github.com/balcony-dev/balcony/pkg/protocol"
	"github.com/balcony-dev/balcony/pkg/report"
)

// TestApproverReadsLargeNoopsFromTheNooper: the approver reads a noop
// through the nooper's collection service (no rights on its buckets), and
// a delta over the bus's payload limit, which the nooper keeps in its
// object store, comes whole: evaluated, shown and approved.
func TestApproverReadsLargeNoopsFromTheNooper(t *testing.T) {
	h := start(t)
	h.stopApprover()
	h.opts.Noops = nil // the default: a nooper.Client
	h.startApprover()
	startRealNooper(t, h.conn, h.code)
	limit := h.conn.PayloadLimit()
	// Four changes of a third of the limit each: the result exceeds a
	// value, each report fits in a message.
	for _, host := range []string{"statler.example.com", "waldorf.example.com", "fozzie.example.com", "kermit.example.com"} {
		answerWithBigDiff(t, h.conn, host, limit/3)
	}

	c := commit("large")
	h.code.addCommit(c)
	subject, err := bus.CommitSubject("puppet")
	if err != nil {
		t.Fatal(err)
	}
	ev := protocol.CommitEvent{
		Schema: protocol.SchemaVersion, Repo: "puppet", Ref: "refs/heads/main", Branch: "main",
		Old: revParent, New: c.SHA, Commits: []protocol.Commit{c}, Source: "hook", Time: time.Now().UTC(),
	}
	if _, err := h.conn.Publish(context.Background(), subject, "large", ev); err != nil {
		t.Fatal(err)
	}

	eventually(t, 2*time.Minute, "the approver evaluates the large noop", func() bool {
		s, err := h.client.Status(context.Background(), c.SHA)
		return err == nil && s.Ready
	})
	col, err := nooper.Client{NC: h.client.NC}.Collection(context.Background(), c.SHA)
	if err != nil {
		t.Fatal(err)
	}
	if col.ResultObject == "" {
		t.Fatal("the noop fits in a noops value: the test shows nothing")
	}
	status := h.status(c.SHA)
	if len(status.Groups) != 4 || status.Approved {
		t.Fatalf("status: %d groups, approved %v; want the 4 large changes, not approved", len(status.Groups), status.Approved)
	}
	if r := h.approve(c.SHA, "bunsen"); !r.Approved {
		t.Fatalf("approved by an admin: %+v", r)
	}
}

// startRealNooper runs a nooper on conn until the test ends.
func startRealNooper(t *testing.T, conn *bus.Conn, code *fakeCode) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	n, err := nooper.New(ctx, conn, nooper.Options{Code: nooperCode{code}, RunTimeout: time.Hour, CollectionTimeout: 2 * time.Hour, Tick: 50 * time.Millisecond, Log: zerolog.Nop()})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("nooper Run: %v", err)
		}
	})
}

// answerWithBigDiff registers host and answers its noop runs: nothing to
// change at the parent, a file with a diff of size bytes naming the host
// at any other revision.
func answerWithBigDiff(t *testing.T, conn *bus.Conn, host string, size int) {
	t.Helper()
	ctx := context.Background()
	kv, err := conn.JS.KeyValue(ctx, "hosts")
	if err != nil {
		t.Fatal(err)
	}
	info, err := bus.Marshal(protocol.HostInfo{Schema: protocol.SchemaVersion, Host: host, Started: time.Now().UTC(), Seen: time.Now().UTC()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, host, info); err != nil {
		t.Fatal(err)
	}
	line := "+" + host + " was here\n"
	big := report.Resource{
		ID: "File[/etc/big]", Type: "File", Title: "/etc/big", File: "manifests/site.pp", Line: 3,
		Events: []report.Event{{Property: "content", Previous: "{md5}0", Desired: "{md5}" + host, Status: "noop"}},
		Diff:   strings.Repeat(line, size/len(line)),
	}
	runs, err := bus.RunSubject(protocol.KindNoop, host)
	if err != nil {
		t.Fatal(err)
	}
	reports, err := bus.ReportSubject(protocol.KindNoop, host)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := conn.NC.Subscribe(runs, func(m *nats.Msg) {
		var req protocol.RunRequest
		if err := bus.Unmarshal(m.Data, &req); err != nil {
			t.Errorf("run request: %v", err)
			return
		}
		now := time.Now().UTC()
		rep := &report.Report{Host: host, Noop: true, PuppetStatus: "unchanged", Time: now}
		if req.Revision != revParent {
			rep.PuppetStatus, rep.Resources = "changed", []report.Resource{big}
		}
		res := protocol.RunResult{
			Schema: protocol.SchemaVersion, RunID: req.ID, Kind: req.Kind, Host: host, Revision: req.Revision,
			Outcome: protocol.OutcomeDone, StartedAt: now, FinishedAt: now, Report: rep,
		}
		go func() { // not on the subscription's goroutine, which waits for the ack
			if _, err := conn.Publish(context.Background(), reports, req.ID, res); err != nil {
				t.Errorf("report of %s: %v", host, err)
			}
		}()
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
}

// nooperCode shows the approver's fake repository to a real nooper: every
// commit it holds is on main's first-parent chain, which starts at
// revParent.
type nooperCode struct{ *fakeCode }

func (c nooperCode) Commit(rev string) (protocol.Commit, error) {
	if rev == revParent {
		return protocol.Commit{SHA: revParent, Subject: "parent"}, nil
	}
	return c.fakeCode.Commit(rev)
}

func (c nooperCode) OnFirstParentChain(_, sha string, _ int) (bool, error) {
	_, err := c.Commit(sha)
	return err == nil, nil //nolint:nilerr // unknown means not on the chain
}

func (nooperCode) Fetch(context.Context) error { return nil }
