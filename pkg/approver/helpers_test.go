package approver_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/balcony-dev/balcony/pkg/approver"
	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/bus/bustest"
	"github.com/balcony-dev/balcony/pkg/delta"
	"github.com/balcony-dev/balcony/pkg/nooper"
	"github.com/balcony-dev/balcony/pkg/owners"
	"github.com/balcony-dev/balcony/pkg/protocol"
	"github.com/balcony-dev/balcony/pkg/report"
)

const wait = 10 * time.Second

// eventually polls cond until it holds or the timeout passes.
var eventually = bustest.Eventually

// testConfig: kermit and fozzie own manifests/site.pp, the muppets/ops
// team (scooter, animal) owns modules/motd, bunsen is an admin.
func testConfig() approver.Config {
	return approver.Config{
		Admins: []string{"@Bunsen"},
		Teams:  map[string][]string{"muppets/ops": {"Scooter", "animal"}},
		Logins: map[string]string{
			"kermit@muppets.example":  "kermit",
			"fozzie@muppets.example":  "fozzie",
			"scooter@muppets.example": "scooter",
			"beaker@muppets.example":  "beaker",
		},
	}
}

// Groups of the test deltas.
var (
	siteGroup = delta.Group{
		ID: "5173e0000001",
		Resource: report.Resource{
			ID: "File[/etc/motd]", Type: "File", Title: "/etc/motd", File: "manifests/site.pp", Line: 3,
			Events: []report.Event{{Property: "content", Previous: "{md5}0", Desired: "{md5}1", Status: "noop"}},
		},
		Hosts: []string{"statler.example.com"},
	}
	motdGroup = delta.Group{
		ID: "307d00000002",
		Resource: report.Resource{
			ID: "File[/etc/motd.d/banner]", Type: "File", Title: "/etc/motd.d/banner", File: "modules/motd/manifests/init.pp", Line: 7,
			Events: []report.Event{{Property: "ensure", Previous: "absent", Desired: "file", Status: "noop"}},
		},
		Hosts: []string{"waldorf.example.com"},
	}
)

// harness is a bus, a code reader, an approver and what it announced.
type harness struct {
	t      testing.TB
	conn   *bus.Conn
	code   *fakeCode
	client approver.Client
	events *events
	opts   approver.Options
	run    *running
	// metrics are the approver's, across its restarts.
	metrics *prometheus.Registry
	// lastReady is the stream sequence of the last noop.ready published.
	lastReady uint64
	probes    int
}

// start starts a bus and an approver. The duplicate window of EVENTS is
// cut to the server's minimum so that forgetDuplicates can outlast it: a
// check that something is announced once then shows that the approver
// remembers it, not that the server drops the repeat.
func start(t testing.TB) *harness {
	t.Helper()
	return startHarness(t, true)
}

// startHarness is start; without readEvents, h.events is nil and nothing
// reads EVENTS but the approver (a benchmark measures the approver only).
func startHarness(t testing.TB, readEvents bool) *harness {
	t.Helper()
	conn := bustest.Start(t)
	ctx := context.Background()
	s, err := conn.JS.Stream(ctx, "EVENTS")
	if err != nil {
		t.Fatal(err)
	}
	cfg := s.CachedInfo().Config
	cfg.Duplicates = 100 * time.Millisecond
	if _, err := conn.JS.UpdateStream(ctx, cfg); err != nil {
		t.Fatalf("shorten the duplicate window of EVENTS: %v", err)
	}
	h := &harness{
		t: t, conn: conn, code: newFakeCode(),
		client: approver.Client{NC: bustest.Client(t, conn).NC},
	}
	if readEvents {
		h.events = subscribeEvents(t, conn)
	}
	h.metrics = prometheus.NewRegistry()
	h.opts = approver.Options{Code: h.code, Config: testConfig(), Log: zerolog.Nop(), Noops: storedNoops{conn.JS}, Registerer: h.metrics}
	h.startApprover()
	return h
}

// storedNoops reads the noops putNoop stores, as the nooper's collection
// service would answer (TestApproverReadsLargeNoopsFromTheNooper asks a
// real nooper).
type storedNoops struct{ js jetstream.JetStream }

func (s storedNoops) Collection(ctx context.Context, rev string) (*nooper.Collection, error) {
	return nooper.Load(ctx, s.js, rev)
}

// running is one approver's Run.
type running struct {
	cancel context.CancelFunc
	done   chan error
}

// startApprover starts an approver and waits until its service answers.
func (h *harness) startApprover() {
	t := h.t
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	a, err := approver.New(ctx, h.conn, h.opts)
	if err != nil {
		cancel()
		t.Fatalf("new approver: %v", err)
	}
	r := &running{cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- a.Run(ctx) }()
	h.run = r
	t.Cleanup(h.stopApprover)
	// The service answers pings before its endpoints are added: wait
	// until it lists them all.
	eventually(t, wait, "the approver service lists its endpoints", func() bool {
		msg, err := h.client.NC.Request("$SRV.INFO.balcony-approver", nil, time.Second)
		if err != nil {
			return false
		}
		var info micro.Info
		return json.Unmarshal(msg.Data, &info) == nil && len(info.Endpoints) == 3
	})
}

// stopApprover cancels Run and waits for it to return.
func (h *harness) stopApprover() {
	t := h.t
	t.Helper()
	if h.run == nil {
		return
	}
	r := h.run
	h.run = nil
	r.cancel()
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("approver Run: %v", err)
		}
	case <-time.After(wait):
		t.Fatal("approver Run did not return after its context was cancelled")
	}
}

// commit is a test commit by beaker, with revParent as first parent.
func commit(name string) protocol.Commit {
	return protocol.Commit{
		SHA: sha(name), Parents: []string{revParent},
		Author: "Beaker", AuthorEmail: "beaker@muppets.example",
		Time: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC), Subject: name, Message: name + "\n",
	}
}

// putNoop stores a collection for c in the noops bucket, as the nooper
// would: ready with groups, or collecting when groups is nil.
func (h *harness) putNoop(c protocol.Commit, groups []delta.Group) {
	h.t.Helper()
	h.putNoopResult(c, groups, nil)
}

// putNoopResult is putNoop with a hook to change the finished result.
func (h *harness) putNoopResult(c protocol.Commit, groups []delta.Group, change func(*delta.Result)) {
	h.t.Helper()
	h.code.addCommit(c)
	h.putNoopAs(c, groups, change)
}

// putNoopAs stores a collection saying c, without telling the code reader:
// a record the nooper wrote from what an event claimed.
func (h *harness) putNoopAs(c protocol.Commit, groups []delta.Group, change func(*delta.Result)) {
	h.t.Helper()
	col := nooper.Collection{
		Schema: protocol.SchemaVersion, Repo: "puppet", Branch: "main", Commit: c,
		Chain: c.Parents, State: nooper.StateCollecting,
		Started: time.Date(2025, 3, 1, 12, 1, 0, 0, time.UTC),
	}
	if groups != nil {
		hosts := map[string]bool{}
		for _, g := range groups {
			for _, host := range g.Hosts {
				hosts[host] = true
			}
		}
		col.State = nooper.StateReady
		col.Finished = col.Started.Add(time.Minute)
		col.Result = &delta.Result{Commit: c.SHA, Parent: col.Parent(), Groups: groups}
		for host := range hosts {
			col.Hosts = append(col.Hosts, host)
			col.Result.Hosts = append(col.Result.Hosts, host)
		}
		if change != nil {
			change(col.Result)
		}
	}
	data, err := bus.Marshal(col)
	if err != nil {
		h.t.Fatal(err)
	}
	kv, err := h.conn.JS.KeyValue(context.Background(), "noops")
	if err != nil {
		h.t.Fatal(err)
	}
	if _, err := kv.Put(context.Background(), c.SHA, data); err != nil {
		h.t.Fatal(err)
	}
}

// publishReady publishes the nooper's noop.ready event of sha.
func (h *harness) publishReady(sha string) {
	h.t.Helper()
	h.publishRaw(mustJSON(h.t, protocol.Event{Type: "noop.ready", Commit: sha, Service: "nooper", Time: time.Now().UTC()}))
}

// publishRaw publishes data on balcony.event.noop.ready.
func (h *harness) publishRaw(data []byte) {
	h.t.Helper()
	ack, err := h.conn.JS.Publish(context.Background(), bus.EventPrefix+"noop.ready", data)
	if err != nil {
		h.t.Fatal(err)
	}
	h.lastReady = ack.Sequence
}

// forgetDuplicates returns once the server has forgotten every message id
// published so far: a probe id published now is accepted again.
func (h *harness) forgetDuplicates() {
	t := h.t
	t.Helper()
	h.probes++
	id := fmt.Sprintf("probe-%d", h.probes)
	probe := func() bool {
		ack, err := h.conn.JS.Publish(context.Background(), bus.EventPrefix+"test.probe", []byte(`{"type":"test.probe"}`), jetstream.WithMsgID(id))
		if err != nil {
			t.Fatal(err)
		}
		return !ack.Duplicate
	}
	if !probe() {
		t.Fatalf("probe %s is a duplicate when first published", id)
	}
	eventually(t, wait, "the server forgets message ids", probe)
}

// settle waits until the approver has acknowledged (or terminated) every
// noop.ready published, then until every event stored by then has been
// read: the event counts are then final for what was published.
func (h *harness) settle() {
	t := h.t
	t.Helper()
	ctx := context.Background()
	h.settleReady()
	s, err := h.conn.JS.Stream(ctx, "EVENTS")
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	last := info.State.LastSeq
	eventually(t, wait, "every stored event read", func() bool { return h.events.seen() >= last })
}

// status asks the approver for sha's state, failing the test on error.
func (h *harness) status(sha string) *approver.StatusReply {
	h.t.Helper()
	st, err := h.client.Status(context.Background(), sha)
	if err != nil {
		h.t.Fatalf("status of %s: %v", sha, err)
	}
	return st
}

// approve approves all groups of sha as who, failing the test on error.
func (h *harness) approve(sha, who string) *approver.ChangeReply {
	h.t.Helper()
	r, err := h.client.Approve(context.Background(), sha, who, owners.SourceCLI, nil)
	if err != nil {
		h.t.Fatalf("approve %s as %s: %v", sha, who, err)
	}
	return r
}

// request sends a raw request and returns the reply, or the micro
// service's error code and description.
func (h *harness) request(subject string, data []byte) (reply []byte, code, desc string) {
	h.t.Helper()
	m, err := h.client.NC.Request(subject, data, wait)
	if err != nil {
		h.t.Fatalf("request %s: %v", subject, err)
	}
	return m.Data, m.Header.Get(micro.ErrorCodeHeader), m.Header.Get(micro.ErrorHeader)
}

// groupStatus finds a group's status in a reply.
func groupStatus(t *testing.T, st *approver.StatusReply, id string) owners.GroupStatus {
	t.Helper()
	for _, g := range st.Status.Groups {
		if g.ID == id {
			return g
		}
	}
	t.Fatalf("status of %s has no group %s: %+v", st.Commit.SHA, id, st.Status.Groups)
	return owners.GroupStatus{}
}
