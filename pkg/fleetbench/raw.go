package fleetbench

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/fleetsim"
	"github.com/balcony-dev/balcony/pkg/protocol"
	"github.com/balcony-dev/balcony/pkg/runs"
)

// fanOut measures, Runs times each, the runs.Asker publishing a run to
// every host (as the nooper asks them) and raw JetStream publishing the
// same number of same-size run requests with PublishAsync, each until
// the last fake host received its run. Nobody answers. It returns the
// revisions asked.
func (b *bench) fanOut(ctx context.Context, e *env, hr *HostsResult) []string {
	e.fleet.SetMode(fleetsim.Silent)
	defer e.fleet.SetMode(fleetsim.Answer)
	hosts := e.fleet.Hosts()
	var revs []string
	for run := range b.cfg.Runs {
		rev := fmt.Sprintf("%040x", 0xa5000+run) // not a commit: only counted
		if !b.measure(ctx, e.n, e.key(FanOut), hr.figure(e.key(FanOut)), func(ctx context.Context) (float64, error) {
			return b.askAll(ctx, e, hosts, rev)
		}) {
			break
		}
		revs = append(revs, rev)
	}
	for run := range b.cfg.Runs {
		rev := fmt.Sprintf("%040x", 0xb5000+run)
		if !b.measure(ctx, e.n, e.key(FanOutRaw), hr.figure(e.key(FanOutRaw)), func(ctx context.Context) (float64, error) {
			return publishRaw(ctx, e, hosts, rev)
		}) {
			break
		}
		revs = append(revs, rev)
	}
	return revs
}

// askAll asks every host for a noop of rev through runs.Asker as the
// nooper does (Request for each, then PublishAll), and waits until they
// all got it.
func (b *bench) askAll(ctx context.Context, e *env, hosts []string, rev string) (float64, error) {
	asker := runs.Asker{Conn: e.conn, Kind: protocol.KindNoop, RequestedBy: "bench-fleet", Timeout: time.Hour, Log: b.log}
	tag := "r" + nuid.Next()
	start := time.Now()
	reqs := make([]protocol.RunRequest, len(hosts))
	for i, h := range hosts {
		reqs[i] = asker.Request(&runs.Need{Host: h, Revision: rev}, tag, start, nil)
	}
	for _, err := range asker.PublishAll(ctx, reqs) {
		if err != nil {
			return 0, err
		}
	}
	if err := e.fleet.Wait(ctx, rev, len(hosts)); err != nil {
		return 0, err
	}
	return time.Since(start).Seconds(), nil
}

// publishRaw publishes to every host a run request of rev, encoded as the
// Asker encodes it (so of the same size), with PublishAsync and a bounded
// number of acks in flight, and waits until every host received it.
func publishRaw(ctx context.Context, e *env, hosts []string, rev string) (float64, error) {
	js, err := jetstream.New(e.conn.NC, jetstream.WithPublishAsyncMaxPending(256))
	if err != nil {
		return 0, err
	}
	now := time.Now().UTC()
	msgs := make([]*nats.Msg, len(hosts))
	tag := "r" + nuid.Next()
	for i, h := range hosts {
		req := protocol.RunRequest{
			Schema: protocol.SchemaVersion, ID: runs.RunID(protocol.KindNoop, rev, h, 1, tag), Kind: protocol.KindNoop,
			Host: h, Revision: rev, Deadline: now.Add(time.Hour), RequestedBy: "bench-fleet", Time: now,
		}
		if msgs[i], err = encoded(protocol.KindNoop, req); err != nil {
			return 0, err
		}
	}
	start := time.Now()
	for _, m := range msgs {
		if _, err := js.PublishMsgAsync(m, jetstream.WithStallWait(time.Minute)); err != nil {
			return 0, fmt.Errorf("raw publish: %w", err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	if err := e.fleet.Wait(ctx, rev, len(hosts)); err != nil {
		return 0, err
	}
	return time.Since(start).Seconds(), nil
}

// encoded is req as the bus publishes it: msgpack, content type, its id
// as message id.
func encoded(kind string, req protocol.RunRequest) (*nats.Msg, error) {
	subject, err := bus.RunSubject(kind, req.Host)
	if err != nil {
		return nil, err
	}
	data, err := bus.Marshal(req)
	if err != nil {
		return nil, err
	}
	m := nats.NewMsg(subject)
	m.Data = data
	m.Header.Set("Content-Type", bus.ContentTypeMsgpack)
	m.Header.Set(nats.MsgIdHdr, req.ID)
	return m, nil
}

// rawSubject is where raw report-sized messages go: in REPORTS, beside
// the reports, where no service consumes them.
const rawSubject = bus.ReportPrefix + "bench."

// ingestRaw measures, Runs times, raw JetStream taking in as many
// messages as hosts, each the size of a host's recorded report as the
// fake host publishes it: published as the fleet publishes its answers,
// consumed (and acked, one by one) by a plain consumer, until the last
// is consumed: what the nooper's intake is compared with.
func (b *bench) ingestRaw(ctx context.Context, e *env, hr *HostsResult) {
	size, err := reportSize(b, e)
	if err != nil {
		hr.figure(e.key(IngestRaw)).Missing = "failed: " + err.Error()
		return
	}
	for run := range b.cfg.Runs {
		if !b.measure(ctx, e.n, e.key(IngestRaw), hr.figure(e.key(IngestRaw)), func(ctx context.Context) (float64, error) {
			return consumeRaw(ctx, e, run, size)
		}) {
			return
		}
	}
}

// reportSize is the encoded size of a fake host's answer to a noop of
// the ingest runs' commits.
func reportSize(b *bench, e *env) (int, error) {
	rev := e.shas[e.firstIngest(b.cfg.Runs)]
	r := b.reportOf(e.shas)(rev)
	now := time.Now().UTC()
	data, err := bus.Marshal(protocol.RunResult{
		Schema: protocol.SchemaVersion, RunID: runs.RunID(protocol.KindNoop, rev, fleetsim.Name(0), 1, "r"+nuid.Next()), Kind: protocol.KindNoop,
		Host: fleetsim.Name(0), Revision: rev, Outcome: protocol.OutcomeDone, Report: fleetsim.ForHost(r, fleetsim.Name(0)), StartedAt: now, FinishedAt: now,
	})
	return len(data), err
}

func consumeRaw(ctx context.Context, e *env, run, size int) (float64, error) {
	n := e.n
	name := fmt.Sprintf("bench-raw-%d", run)
	subject := fmt.Sprintf("%s%d.", rawSubject, run)
	cons, err := e.conn.JS.CreateOrUpdateConsumer(ctx, "REPORTS", jetstream.ConsumerConfig{
		Durable: name, FilterSubject: subject + ">", AckPolicy: jetstream.AckExplicitPolicy, MaxAckPending: 1000,
	})
	if err != nil {
		return 0, fmt.Errorf("raw consumer: %w", err)
	}
	defer func() { _ = e.conn.JS.DeleteConsumer(context.Background(), "REPORTS", name) }()
	var got atomic.Int64
	all := make(chan struct{})
	cc, err := cons.Consume(func(m jetstream.Msg) {
		_ = m.Ack()
		if got.Add(1) == int64(n) {
			close(all)
		}
	})
	if err != nil {
		return 0, fmt.Errorf("raw consume: %w", err)
	}
	defer cc.Stop()
	payload := make([]byte, size)
	msgs := make([]*nats.Msg, n)
	for i := range msgs {
		m := nats.NewMsg(subject + fleetsim.Name(i))
		m.Data = payload
		m.Header.Set("Content-Type", bus.ContentTypeMsgpack)
		m.Header.Set(nats.MsgIdHdr, fmt.Sprintf("bench-raw-%d-%s", run, strconv.Itoa(i)))
		msgs[i] = m
	}
	start := time.Now()
	e.fleet.PublishRaw(msgs)
	select {
	case <-all:
	case <-ctx.Done():
		return 0, fmt.Errorf("%d of %d consumed: %w", got.Load(), n, ctx.Err())
	}
	return time.Since(start).Seconds(), nil
}
