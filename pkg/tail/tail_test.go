package tail

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"testing"

	"github.com/balcony-dev/balcony"
	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/bus/bustest"
	"github.com/balcony-dev/balcony/pkg/protocol"
)

func declaration(t *testing.T) *bus.Declaration {
	t.Helper()
	decl, err := bus.ParseDeclaration(balcony.StreamsYAML)
	if err != nil {
		t.Fatal(err)
	}
	return decl
}

// publishAll publishes what each balcony stream carries, the way its
// publishers do, and returns the connection.
func publishAll(t *testing.T) *bus.Conn {
	t.Helper()
	conn := bustest.Start(t)
	ctx := context.Background()
	if _, err := conn.Publish(ctx, "balcony.commit.puppet", "commit-1", commitEvent()); err != nil {
		t.Fatal(err)
	}
	for i, id := range []string{"noop-1", "noop-2", "noop-3"} {
		req := runRequest()
		req.ID = id
		req.Host = []string{"web1.example.com", "web2.example.com", "web1.example.com"}[i]
		if _, err := conn.Publish(ctx, "balcony.run.noop."+req.Host, id, req); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := conn.Publish(ctx, "balcony.report.noop.web1.example.com", "noop-1", runResult()); err != nil {
		t.Fatal(err)
	}
	if err := conn.Announce(ctx, "ready-1", protocol.Event{Type: "noop.ready", Text: "ready", Commit: sha, Time: at}); err != nil {
		t.Fatal(err)
	}
	return conn
}

func read(t *testing.T, conn *bus.Conn, o Options) []Record {
	t.Helper()
	o.Declaration = declaration(t)
	o.NoFollow = true
	var out bytes.Buffer
	if err := Run(context.Background(), conn.NC, conn.JS, o, &out); err != nil {
		t.Fatalf("%+v: %v", o, err)
	}
	return records(t, &out)
}

func records(t *testing.T, r io.Reader) []Record {
	t.Helper()
	var recs []Record
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var rec Record
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		recs = append(recs, rec)
	}
	return recs
}

func TestReadsEveryStreamFromAPosition(t *testing.T) {
	conn := publishAll(t)

	commits := read(t, conn, Options{Subject: "balcony.commit.>", All: true})
	if len(commits) != 1 || commits[0].Type != "protocol.CommitEvent" || commits[0].Stream != "COMMITS" || commits[0].Seq != 1 {
		t.Fatalf("commits: %+v", commits)
	}
	var ce protocol.CommitEvent
	if err := json.Unmarshal(commits[0].Payload, &ce); err != nil || ce.New != sha || ce.Commits[0].Subject != "motd: greet" {
		t.Errorf("commit payload %s: %v", commits[0].Payload, err)
	}
	if commits[0].Headers["Nats-Msg-Id"] != "commit-1" || commits[0].Headers["Content-Type"] != bus.ContentTypeMsgpack || commits[0].Time == nil {
		t.Errorf("commit headers %v, time %v", commits[0].Headers, commits[0].Time)
	}

	runs := read(t, conn, Options{Subject: "balcony.run.noop.web1.example.com", FromSeq: 2})
	if len(runs) != 1 || runs[0].Seq != 3 || runs[0].Headers["Nats-Msg-Id"] != "noop-3" || runs[0].Type != "protocol.RunRequest" {
		t.Fatalf("web1's runs from sequence 2: %+v", runs)
	}

	last := read(t, conn, Options{Subject: "balcony.run.>", Last: 2})
	if len(last) != 2 || last[0].Seq != 2 || last[1].Seq != 3 {
		t.Fatalf("last 2 runs: %+v", last)
	}
	if got := read(t, conn, Options{Subject: "balcony.run.noop.web2.example.com", Last: 5}); len(got) != 1 || got[0].Seq != 2 {
		t.Fatalf("last 5 runs of web2 (1 there): %+v", got)
	}

	reports := read(t, conn, Options{Subject: "balcony.report.noop.>", Last: 1})
	var rr protocol.RunResult
	if len(reports) != 1 || json.Unmarshal(reports[0].Payload, &rr) != nil || rr.Report == nil || rr.Report.Resources[0].Diff != "-old\n+new\n" {
		t.Fatalf("reports: %+v", reports)
	}

	events := read(t, conn, Options{Subject: "balcony.event.>", Since: 24 * 365 * 100 * 3600e9})
	var ev protocol.Event
	if len(events) != 1 || events[0].Type != "json" || json.Unmarshal(events[0].Payload, &ev) != nil || ev.Type != "noop.ready" {
		t.Fatalf("events: %+v", events)
	}

	if got := read(t, conn, Options{Subject: "balcony.run.>", FromSeq: 99}); len(got) != 0 {
		t.Errorf("past the end: %+v", got)
	}
	if got := read(t, conn, Options{Subject: "balcony.run.noop.web3"}); len(got) != 0 {
		t.Errorf("new only, without following: %+v", got)
	}
}

func TestReadsKeyValueEntries(t *testing.T) {
	conn := bustest.Start(t)
	ctx := context.Background()
	kv, err := conn.JS.KeyValue(ctx, "approvals") // keeps history
	if err != nil {
		t.Fatal(err)
	}
	val, _ := bus.Marshal(protocol.HostInfo{Schema: 1, Host: "web1.example.com", Seen: at})
	if _, err := kv.Put(ctx, sha, val); err != nil {
		t.Fatal(err)
	}
	if err := kv.Delete(ctx, sha); err != nil {
		t.Fatal(err)
	}
	got := read(t, conn, Options{Subject: "$KV.approvals.>", All: true})
	if len(got) != 2 || got[0].KV == nil || got[0].KV.Op != "PUT" || got[0].Type != "msgpack" || got[1].KV.Op != "DEL" || got[1].Stream != "KV_approvals" {
		t.Fatalf("approvals bucket: %+v", got)
	}
}

// lines is a writer that hands each line written to a channel.
type lines chan []byte

func (l lines) Write(p []byte) (int, error) {
	l <- bytes.Clone(p)
	return len(p), nil
}

func TestFollows(t *testing.T) {
	conn := publishAll(t)
	reader := bustest.Client(t, conn)
	decl := declaration(t)
	for _, tt := range []struct {
		name, subject string
		publish       func() error
		stream        string
	}{
		{"a stream from its last message on", "balcony.commit.puppet", func() error {
			_, err := conn.Publish(context.Background(), "balcony.commit.puppet", "commit-2", commitEvent())
			return err
		}, "COMMITS"},
		{"a subject in no stream", "balcony.nooper.show", func() error {
			return conn.NC.Publish("balcony.nooper.show", []byte(sha))
		}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			out := make(lines, 10)
			done := make(chan error, 1)
			o := Options{Subject: tt.subject, Declaration: decl}
			if tt.stream != "" {
				o.Last = 1
			}
			go func() { done <- Run(ctx, reader.NC, reader.JS, o, out) }()
			defer cancel()
			if tt.stream != "" {
				// The one there, then the one published once it is read.
				if first := records(t, bytes.NewReader(next(t, out, done))); len(first) != 1 || first[0].Seq != 1 {
					t.Fatalf("first: %+v", first)
				}
				if err := tt.publish(); err != nil {
					t.Fatal(err)
				}
			} else {
				// A plain subscription sees only what is published once it
				// is made: publish until one arrives.
				bustest.Eventually(t, 0, "a live message", func() bool {
					if err := tt.publish(); err != nil {
						t.Fatal(err)
					}
					select {
					case err := <-done:
						t.Fatalf("ended: %v", err)
					default:
					}
					return len(out) > 0
				})
			}
			got := records(t, bytes.NewReader(next(t, out, done)))
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || got[0].Stream != tt.stream || got[0].Subject != tt.subject {
				t.Fatalf("followed: %+v", got)
			}
			if tt.stream == "" && (got[0].Received == nil || deref(got[0].Text) != sha) {
				t.Errorf("live record: %+v", got[0])
			}
		})
	}
}

// next is the next line written, failing the test if Run ends first.
func next(t *testing.T, out lines, done chan error) []byte {
	t.Helper()
	select {
	case l := <-out:
		return l
	case err := <-done:
		t.Fatalf("ended before a line: %v", err)
		return nil
	}
}

func TestRefuses(t *testing.T) {
	conn := bustest.Start(t)
	decl := declaration(t)
	for _, tt := range []struct {
		name string
		o    Options
		is   error
	}{
		{"two starts", Options{Subject: "balcony.run.>", All: true, Last: 3}, nil},
		{"a position outside the streams", Options{Subject: "balcony.nooper.show", All: true}, ErrNotInStream},
		{"a filter across streams", Options{Subject: "balcony.>", All: true}, ErrSpansStreams},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.o.Declaration = decl
			err := Run(context.Background(), conn.NC, conn.JS, tt.o, io.Discard)
			if err == nil || tt.is != nil && !errors.Is(err, tt.is) {
				t.Fatalf("err %v, want %v", err, tt.is)
			}
		})
	}
}
