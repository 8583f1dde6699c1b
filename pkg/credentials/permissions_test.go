package credentials_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/balcony-dev/balcony/pkg/agent"
	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/bus/bustest"
	"github.com/balcony-dev/balcony/pkg/credentials"
	"github.com/balcony-dev/balcony/pkg/credentials/credtest"
	"github.com/balcony-dev/balcony/pkg/protocol"
	"github.com/balcony-dev/balcony/pkg/report"
)

const (
	fozzie  = "fozzie.example.com"
	statler = "statler.example.com"
)

var spec = credentials.Spec{Hosts: []string{fozzie, statler}, People: []string{"kermit", "piggy"}}

// denied is how long a test waits for an answer that permissions must
// prevent: the request is dropped by the server, so it times out; a
// slower machine only makes the failure take longer, never pass.
const denied = 2 * time.Second

type doneExecutor struct {
	mu  sync.Mutex
	ran []string
}

func (e *doneExecutor) Execute(_ context.Context, req protocol.RunRequest) *protocol.RunResult {
	e.mu.Lock()
	e.ran = append(e.ran, req.ID)
	e.mu.Unlock()
	now := time.Now().UTC()
	return &protocol.RunResult{Schema: protocol.SchemaVersion, RunID: req.ID, Kind: req.Kind, Host: req.Host,
		Revision: req.Revision, Outcome: protocol.OutcomeDone, Report: &report.Report{Host: req.Host, Noop: true}, StartedAt: now, FinishedAt: now}
}

func (e *doneExecutor) runs() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.ran...)
}

func publishRun(t *testing.T, c *bus.Conn, id, host string) {
	t.Helper()
	subject, err := bus.RunSubject(protocol.KindNoop, host)
	if err != nil {
		t.Fatal(err)
	}
	req := protocol.RunRequest{Schema: protocol.SchemaVersion, ID: id, Kind: protocol.KindNoop, Host: host, Revision: "abc", RequestedBy: "nooper"}
	if _, err := c.Publish(context.Background(), subject, id, req); err != nil {
		t.Fatal(err)
	}
}

func noViolations(t *testing.T, b *credtest.Bus) {
	t.Helper()
	if v := b.Violations(); len(v) != 0 {
		t.Errorf("permissions violations: %v", v)
	}
}

// violated waits until who got a permissions violation mentioning what.
func violated(t *testing.T, b *credtest.Bus, who, what string) {
	t.Helper()
	bustest.Eventually(t, 0, who+" violating "+what, func() bool {
		for _, v := range b.Violations() {
			if strings.HasPrefix(v, who+":") && strings.Contains(v, what) {
				return true
			}
		}
		return false
	})
}

// The agent daemon runs with its host's credentials alone: it starts,
// registers its host, catches up on a run stored before it started,
// answers a live one, announces, and never needs more.
func TestAgentRunsWithItsCredentials(t *testing.T) {
	t.Parallel() // each its own bus; most of the time is waiting for a denial
	b := credtest.Start(t, spec, nil)
	publishRun(t, b.Nooper, "before-start", fozzie)
	publishRun(t, b.Nooper, "for-statler", statler)

	conn := b.Connect(t, credentials.Agent, fozzie)
	exec := &doneExecutor{}
	a, err := agent.New(context.Background(), conn, agent.Options{Host: fozzie, StateDir: t.TempDir(), Executor: exec})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() { cancel(); <-done }()

	reports, err := b.Nooper.JS.Stream(context.Background(), "REPORTS")
	if err != nil {
		t.Fatal(err)
	}
	hasReport := func(id string) bool {
		msg, err := reports.GetLastMsgForSubject(context.Background(), "balcony.report.noop."+fozzie)
		if err != nil {
			return false
		}
		var res protocol.RunResult
		return bus.Unmarshal(msg.Data, &res) == nil && res.RunID == id
	}
	bustest.Eventually(t, 0, "the caught-up run's report", func() bool { return hasReport("before-start") })
	publishRun(t, b.Nooper, "live", fozzie)
	bustest.Eventually(t, 0, "the live run's report", func() bool { return hasReport("live") })
	if got := strings.Join(exec.runs(), " "); got != "before-start live" {
		t.Errorf("ran %q, want its own runs in order", got)
	}
	hosts, err := b.Nooper.JS.KeyValue(context.Background(), "hosts")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := hosts.Get(context.Background(), fozzie); err != nil {
		t.Errorf("host record: %v", err)
	}
	noViolations(t, b)
}

// What an agent must not do, each tried as the agent of fozzie.
func TestAgentCannot(t *testing.T) {
	t.Parallel() // each its own bus; most of the time is waiting for a denial
	b := credtest.Start(t, spec, nil)
	publishRun(t, b.Nooper, "for-statler", statler)
	c := b.Connect(t, credentials.Agent, fozzie)
	who := "agent " + fozzie
	ctx := context.Background()

	t.Run("receive another client's replies", func(t *testing.T) {
		for _, subject := range []string{"_INBOX.>", bus.InboxPrefix(pubOf(t, b, credentials.Person, "kermit")) + ".>"} {
			if _, err := c.NC.SubscribeSync(subject); err != nil {
				t.Fatal(err)
			}
			if err := c.NC.Flush(); err != nil {
				t.Fatal(err)
			}
			violated(t, b, who, `Subscription to "`+subject+`"`)
		}
	})
	t.Run("subscribe to another host's runs", func(t *testing.T) {
		subject := "balcony.run.*." + statler
		if _, err := c.NC.SubscribeSync(subject); err != nil {
			t.Fatal(err)
		}
		if err := c.NC.Flush(); err != nil {
			t.Fatal(err)
		}
		violated(t, b, who, `Subscription to "`+subject+`"`)
	})
	t.Run("read another host's runs through a consumer", func(t *testing.T) {
		for _, cfg := range []jetstream.ConsumerConfig{
			{Name: bus.CatchUpConsumer(fozzie), FilterSubject: "balcony.run.*." + statler, AckPolicy: jetstream.AckNonePolicy},
			{Name: bus.CatchUpConsumer(statler), FilterSubject: "balcony.run.*." + statler, AckPolicy: jetstream.AckNonePolicy},
			{Name: bus.CatchUpConsumer(fozzie), FilterSubjects: []string{"balcony.run.>"}, AckPolicy: jetstream.AckNonePolicy},
			{Name: bus.CatchUpConsumer(fozzie), AckPolicy: jetstream.AckNonePolicy},
		} {
			rctx, cancel := context.WithTimeout(ctx, denied)
			_, err := c.JS.CreateConsumer(rctx, "RUNS", cfg)
			cancel()
			if err == nil {
				t.Errorf("created consumer %+v", cfg)
			}
		}
		violated(t, b, who, "$JS.API.CONSUMER.CREATE.RUNS")
	})
	t.Run("read another host's runs by direct get", func(t *testing.T) {
		body, _ := json.Marshal(map[string]any{"last_by_subj": "balcony.run.noop." + statler})
		if msg, err := c.NC.Request("$JS.API.DIRECT.GET.RUNS", body, denied); err == nil {
			t.Errorf("direct get answered: %q", msg.Data)
		}
		if msg, err := c.NC.Request("$JS.API.DIRECT.GET.RUNS.balcony.run.noop."+statler, nil, denied); err == nil {
			t.Errorf("direct get by subject answered: %q", msg.Data)
		}
		if msg, err := c.NC.Request("$JS.API.STREAM.MSG.GET.RUNS", []byte(`{"seq":1}`), denied); err == nil {
			t.Errorf("message get answered: %q", msg.Data)
		}
		violated(t, b, who, "$JS.API.DIRECT.GET.RUNS")
	})
	t.Run("announce for others", func(t *testing.T) {
		for _, ev := range []protocol.Event{
			{Type: "noop.ready", Commit: "abc"},
			{Type: "approval.complete", Commit: "abc"},
			{Type: "run.queued", Host: statler},
			{Type: "rejected", Service: "nooper"},
		} {
			rctx, cancel := context.WithTimeout(ctx, denied)
			err := c.Announce(rctx, "", ev)
			cancel()
			if err == nil {
				t.Errorf("announced %+v", ev)
			}
		}
		if err := c.Announce(ctx, "", protocol.Event{Type: "run.queued", Host: fozzie, Text: "its own"}); err != nil {
			t.Errorf("its own announcement: %v", err)
		}
		events, err := b.Nooper.JS.Stream(ctx, "EVENTS")
		if err != nil {
			t.Fatal(err)
		}
		info, err := events.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.State.Msgs != 1 {
			t.Errorf("EVENTS holds %d messages, want only the agent's own announcement", info.State.Msgs)
		}
	})
	t.Run("report for another host", func(t *testing.T) {
		rctx, cancel := context.WithTimeout(ctx, denied)
		defer cancel()
		if _, err := c.Publish(rctx, "balcony.report.noop."+statler, "forged", protocol.RunResult{RunID: "forged"}); err == nil {
			t.Error("published another host's report")
		}
		if _, err := c.Publish(rctx, "balcony.commit.puppet", "forged-commit", protocol.RunResult{}); err == nil {
			t.Error("published a commit event")
		}
	})
	t.Run("write another host's record or read the buckets", func(t *testing.T) {
		rctx, cancel := context.WithTimeout(ctx, denied)
		defer cancel()
		if _, err := c.Publish(rctx, "$KV.hosts."+statler, "forged-host", protocol.HostInfo{Host: statler}); err == nil {
			t.Error("wrote another host's record")
		}
		for _, bucket := range []string{"noops", "approvals", "reports"} {
			if _, err := c.JS.KeyValue(rctx, bucket); err == nil {
				t.Errorf("opened bucket %s", bucket)
			}
		}
	})
}

func pubOf(t *testing.T, b *credtest.Bus, role credentials.Role, name string) string {
	t.Helper()
	pub, _, err := bus.ReadUserKey(b.Seed(role, name))
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

// A person approves only as themselves, asks the services, and reads no
// bucket; the services answer them without rights on anyone's inbox.
func TestPerson(t *testing.T) {
	t.Parallel() // each its own bus; most of the time is waiting for a denial
	b := credtest.Start(t, spec, nil)
	ctx := context.Background()
	approver := b.Connect(t, credentials.Approver, "")
	if _, err := approver.NC.Subscribe("balcony.approver.>", func(m *nats.Msg) { _ = m.Respond([]byte("ok " + m.Subject)) }); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Nooper.NC.Subscribe("balcony.nooper.show", func(m *nats.Msg) { _ = m.Respond([]byte("review")) }); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*bus.Conn{approver, b.Nooper} {
		if err := c.NC.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	kermit := b.Connect(t, credentials.Person, "kermit")
	who := "person kermit"
	for _, subject := range []string{"balcony.approver.approve.kermit", "balcony.approver.revoke.kermit", "balcony.approver.status"} {
		msg, err := kermit.NC.RequestWithContext(ctx, subject, []byte("{}"))
		if err != nil || string(msg.Data) != "ok "+subject {
			t.Errorf("%s: %v %v", subject, msg, err)
		}
	}
	if msg, err := kermit.NC.RequestWithContext(ctx, "balcony.nooper.show", []byte("abc")); err != nil || string(msg.Data) != "review" {
		t.Errorf("nooper show: %v %v", msg, err)
	}
	// A denied request fails as soon as the server says so (bus.Request),
	// long before its deadline, which only bounds a hang.
	for _, subject := range []string{"balcony.approver.approve.piggy", "balcony.approver.approve.*", "balcony.approver.revoke.piggy"} {
		rctx, cancel := context.WithTimeout(ctx, bustest.Patience)
		msg := nats.NewMsg(subject)
		msg.Data = []byte("{}")
		reply, err := bus.Request(rctx, kermit.NC, msg)
		cancel()
		if !errors.Is(err, nats.ErrPermissionViolation) {
			t.Errorf("%s: %v, %v; want a permissions violation", subject, reply, err)
		}
		violated(t, b, who, subject)
	}
	rctx, cancel := context.WithTimeout(ctx, denied)
	defer cancel()
	for _, bucket := range []string{"noops", "approvals"} {
		if _, err := kermit.JS.KeyValue(rctx, bucket); err == nil {
			t.Errorf("a person opened bucket %s", bucket)
		}
	}
	if _, err := kermit.NC.SubscribeSync("_INBOX.>"); err != nil {
		t.Fatal(err)
	}
	if err := kermit.NC.Flush(); err != nil {
		t.Fatal(err)
	}
	violated(t, b, who, `Subscription to "_INBOX.>"`)
}

// Each service can do what its daemon does at start with its own
// credentials, and no daemon but the nooper can provision.
func TestServicesStartWithTheirRights(t *testing.T) {
	t.Parallel() // each its own bus; most of the time is waiting for a denial
	b := credtest.Start(t, spec, nil)
	ctx := context.Background()
	for role, streams := range credentials.Streams {
		name := ""
		if role == credentials.Agent {
			name = fozzie
		}
		c := b.Connect(t, role, name)
		for _, s := range streams {
			if _, err := c.JS.Stream(ctx, s); err != nil {
				t.Errorf("%s: stream %s: %v", role, s, err)
			}
		}
		rctx, cancel := context.WithTimeout(ctx, denied)
		err := bus.ProvisionDeclared(rctx, c.JS)
		cancel()
		if err == nil {
			t.Errorf("%s provisioned the bus", role)
		}
	}
	committer := b.Connect(t, credentials.Committer, "")
	if _, err := committer.Publish(ctx, "balcony.commit.puppet", "c1", protocol.RunRequest{ID: "c1"}); err != nil {
		t.Errorf("committer publishes a commit event: %v", err)
	}
	// committer serve's CI trigger: its records in its own bucket, the
	// nooper asked where a noop is and to do one again.
	if kv, err := committer.JS.KeyValue(ctx, "triggers"); err != nil {
		t.Errorf("committer opens triggers: %v", err)
	} else if _, err := kv.Create(ctx, "t1", []byte("x")); err != nil {
		t.Errorf("committer writes triggers: %v", err)
	} else if e, err := kv.Get(ctx, "t1"); err != nil {
		t.Errorf("committer reads triggers: %v", err)
	} else if _, err := kv.Update(ctx, "t1", []byte("y"), e.Revision()); err != nil {
		t.Errorf("committer updates triggers: %v", err)
	} else if _, err := kv.Keys(ctx); err != nil {
		t.Errorf("committer lists triggers: %v", err)
	}
	for _, subject := range []string{"balcony.nooper.show", "balcony.nooper.renoop"} {
		// Nobody answers here: a request allowed finds no responders,
		// one denied would time out.
		rctx, cancel := context.WithTimeout(ctx, denied)
		_, err := committer.NC.RequestWithContext(rctx, subject, []byte("abc"))
		cancel()
		if !errors.Is(err, nats.ErrNoResponders) {
			t.Errorf("committer asks %s: %v, want no responders", subject, err)
		}
	}
	approver := b.Connect(t, credentials.Approver, "")
	cc, err := approver.Consume(ctx, "approver", bus.Durable{Stream: "EVENTS", Name: "approver-noops", Filter: bus.EventPrefix + "noop.ready"},
		func(context.Context, jetstream.Msg) error { return nil })
	if err != nil {
		t.Errorf("approver consumes noop.ready: %v", err)
	} else {
		cc.Stop()
	}
	if kv, err := approver.JS.KeyValue(ctx, "approvals"); err != nil {
		t.Errorf("approver opens approvals: %v", err)
	} else if _, err := kv.Put(ctx, "abc", []byte("x")); err != nil {
		t.Errorf("approver writes approvals: %v", err)
	} else if _, err := kv.Get(ctx, "abc"); err != nil {
		t.Errorf("approver reads approvals: %v", err)
	} else if _, err := kv.ListKeys(ctx); err != nil {
		t.Errorf("approver lists approvals: %v", err)
	}
	if err := approver.Announce(ctx, "", protocol.Event{Type: "approval.complete", Commit: "abc"}); err != nil {
		t.Errorf("approver announces: %v", err)
	}
	rctx, cancel := context.WithTimeout(ctx, denied)
	defer cancel()
	if _, err := approver.JS.KeyValue(rctx, "noops"); err == nil {
		t.Error("the approver opened the nooper's noops bucket")
	}
	if err := approver.Announce(rctx, "", protocol.Event{Type: "noop.ready", Commit: "abc"}); err == nil {
		t.Error("the approver announced noop.ready")
	}
	if _, err := committer.Publish(rctx, "balcony.run.noop."+fozzie, "r", protocol.RunRequest{}); errors.Is(err, nil) {
		t.Error("the committer asked a run")
	}
	if _, err := committer.JS.KeyValue(rctx, "noops"); err == nil {
		t.Error("the committer opened the nooper's noops bucket")
	}
}

// The secured bus works over TLS, for the daemon that embeds it and for
// the others.
func TestSecuredBusOverTLS(t *testing.T) {
	t.Parallel() // each its own bus; most of the time is waiting for a denial
	files := bustest.NewTLSFiles(t)
	b := credtest.Start(t, spec, &credtest.TLS{CA: files.CA, Cert: files.Cert, Key: files.Key})
	if !strings.HasPrefix(b.URL, "tls://") {
		t.Fatalf("URL %s", b.URL)
	}
	c := b.Connect(t, credentials.Agent, fozzie)
	if _, err := c.JS.Stream(context.Background(), "RUNS"); err != nil {
		t.Error(err)
	}
	if _, err := c.NC.TLSConnectionState(); err != nil {
		t.Errorf("not TLS: %v", err)
	}
	noViolations(t, b)
}
