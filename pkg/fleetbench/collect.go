package fleetbench

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/fleetsim"
	"github.com/balcony-dev/balcony/pkg/nooper"
	"github.com/balcony-dev/balcony/pkg/protocol"
)

// collections runs the real nooper against the fleet: a first collection
// (the commit and its parent nooped on every host), then Runs steady-state
// collections (the parent's noop known: one noop per host), timed from the
// commit event to the noop.ready event, the heap it grew, and Runs
// collections whose answers are held until every host got its run, then
// released at once: the time until the nooper's intake stored them all is
// the ingest figure. On the cluster only the first collection and the
// ingest runs are made. It returns the revisions every host was asked for.
func (b *bench) collections(ctx context.Context, e *env, hr *HostsResult) []string {
	skip := func(why string, keys ...string) {
		for _, k := range keys {
			if e.replicas > 1 && k != Ingest && k != FirstCollection {
				continue // not measured on the cluster
			}
			if f := hr.figure(e.key(k)); f.Missing == "" {
				f.Missing = why
			}
		}
	}
	ready, err := watchReady(e.conn)
	if err != nil {
		skip("failed: "+err.Error(), FirstCollection, Collection, Ingest, NooperMemory)
		return nil
	}
	defer ready.stop()
	runtime.GC()
	before := heapInUse()

	nctx, cancel := context.WithCancel(ctx)
	n, err := nooper.New(nctx, e.conn, nooper.Options{
		Code: e.code, RunTimeout: time.Hour, CollectionTimeout: 2 * time.Hour, Log: b.log,
	})
	if err != nil {
		cancel()
		skip("failed: "+err.Error(), FirstCollection, Collection, Ingest, NooperMemory)
		return nil
	}
	done := make(chan error, 1)
	go func() { done <- n.Run(nctx) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				b.log.Warn().Err(err).Msg("nooper")
			}
		case <-time.After(time.Minute):
			// Its goroutine is left behind; the server closes under it.
			b.progress("%d hosts: the nooper did not stop a minute after it was told to", e.n)
		}
	}()

	collect := func(ctx context.Context, k int) (float64, error) {
		start := time.Now()
		if err := pushCommit(ctx, e, k); err != nil {
			return 0, err
		}
		if err := ready.wait(ctx, e.shas[k]); err != nil {
			return 0, err
		}
		return time.Since(start).Seconds(), nil
	}
	// The first collection: the commit and its parent on every host.
	asked := []string{e.shas[0], e.shas[1]}
	if !b.measure(ctx, e.n, e.key(FirstCollection), hr.figure(e.key(FirstCollection)), func(ctx context.Context) (float64, error) { return collect(ctx, 1) }) {
		skip("not measured: the first collection did not finish", Collection, Ingest, NooperMemory)
		return nil
	}
	k := 2
	for range b.cfg.Runs {
		if e.replicas > 1 {
			break
		}
		if !b.measure(ctx, e.n, Collection, hr.figure(Collection), func(ctx context.Context) (float64, error) { return collect(ctx, k) }) {
			skip("not measured: a collection did not finish", Ingest, NooperMemory)
			return asked
		}
		asked = append(asked, e.shas[k])
		k++
	}
	if e.replicas == 1 {
		runtime.GC()
		hr.figure(NooperMemory).Samples = []float64{mib(int64(heapInUse()) - int64(before))}
		b.progress("%d hosts: %s %s", e.n, NooperMemory, format(NooperMemory, hr.figure(NooperMemory).Samples[0]))
	}

	for range b.cfg.Runs {
		if !b.measure(ctx, e.n, e.key(Ingest), hr.figure(e.key(Ingest)), func(ctx context.Context) (float64, error) { return b.ingest(ctx, e, ready, k) }) {
			return asked
		}
		asked = append(asked, e.shas[k])
		k++
	}
	return asked
}

// ingest pushes commit k with the fleet's answers held until every host
// got its run, then releases them all and times until the nooper stored
// every report; it returns once the collection is ready.
func (b *bench) ingest(ctx context.Context, e *env, ready *readyWatch, k int) (float64, error) {
	sha := e.shas[k]
	stored, err := countStored(e.conn, sha, e.n)
	if err != nil {
		return 0, err
	}
	defer stored.stop()
	e.fleet.SetMode(fleetsim.Hold)
	defer e.fleet.SetMode(fleetsim.Answer)
	if err := pushCommit(ctx, e, k); err != nil {
		return 0, err
	}
	if err := e.fleet.Wait(ctx, sha, e.n); err != nil {
		return 0, err
	}
	start := time.Now()
	e.fleet.Release()
	select {
	case <-stored.all:
	case <-ctx.Done():
		return 0, fmt.Errorf("%d of %d reports stored: %w", stored.got.Load(), e.n, ctx.Err())
	}
	took := time.Since(start).Seconds()
	return took, ready.wait(ctx, sha)
}

// pushCommit publishes the commit event of a push of commit k onto k-1,
// as the committer does.
func pushCommit(ctx context.Context, e *env, k int) error {
	c, err := e.code.Commit(e.shas[k])
	if err != nil {
		return err
	}
	subject, err := bus.CommitSubject("puppet")
	if err != nil {
		return err
	}
	ev := protocol.CommitEvent{
		Schema: protocol.SchemaVersion, Repo: "puppet", Ref: "refs/heads/main", Branch: "main",
		Old: e.shas[k-1], New: e.shas[k], Commits: []protocol.Commit{c}, Source: "hook", Time: time.Now().UTC(),
	}
	_, err = e.conn.Publish(ctx, subject, "puppet:refs/heads/main:"+e.shas[k], ev)
	return err
}

// readyWatch follows the nooper's noop.ready announcements.
type readyWatch struct {
	sub  *nats.Subscription
	mu   sync.Mutex
	seen map[string]chan struct{}
}

func watchReady(conn *bus.Conn) (*readyWatch, error) {
	w := &readyWatch{seen: map[string]chan struct{}{}}
	sub, err := conn.NC.Subscribe(bus.EventPrefix+"noop.ready", func(m *nats.Msg) {
		var ev protocol.Event
		if json.Unmarshal(m.Data, &ev) != nil {
			return
		}
		ch := w.ch(ev.Commit)
		select {
		case <-ch:
		default:
			close(ch)
		}
	})
	if err != nil {
		return nil, err
	}
	w.sub = sub
	return w, conn.NC.Flush()
}

func (w *readyWatch) ch(sha string) chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	ch, ok := w.seen[sha]
	if !ok {
		ch = make(chan struct{})
		w.seen[sha] = ch
	}
	return ch
}

func (w *readyWatch) wait(ctx context.Context, sha string) error {
	select {
	case <-w.ch(sha):
		return nil
	case <-ctx.Done():
		return fmt.Errorf("the noop of %s not ready: %w", protocol.Short(sha), ctx.Err())
	}
}

func (w *readyWatch) stop() { _ = w.sub.Unsubscribe() }

// storedCount counts the nooper's writes of reports of one revision to
// its reports bucket.
type storedCount struct {
	sub *nats.Subscription
	got atomic.Int64
	all chan struct{}
}

func countStored(conn *bus.Conn, sha string, n int) (*storedCount, error) {
	s := &storedCount{all: make(chan struct{})}
	sub, err := conn.NC.Subscribe("$KV.reports."+sha+".>", func(*nats.Msg) {
		if s.got.Add(1) == int64(n) {
			close(s.all)
		}
	})
	if err != nil {
		return nil, err
	}
	s.sub = sub
	return s, conn.NC.Flush()
}

func (s *storedCount) stop() { _ = s.sub.Unsubscribe() }

func heapInUse() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }
