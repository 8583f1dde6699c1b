package fleetsim

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/protocol"
	"github.com/balcony-dev/balcony/pkg/report"
)

// Mode is how the fleet's hosts answer the noop runs they receive.
type Mode int32

const (
	// Answer publishes each host's report as soon as its run arrives.
	Answer Mode = iota
	// Hold keeps the answers until Release: a test or benchmark then
	// publishes them all at once.
	Hold
	// Silent only counts the runs: nobody answers.
	Silent
)

// Options configures a fleet.
type Options struct {
	// URL is the NATS server the hosts connect to.
	URL string
	// Hosts is how many hosts there are; they are named Name(i).
	Hosts int
	// Conns is how many connections the hosts share; default 8. (A real
	// fleet has one per host; thousands of connections in one process
	// would measure the process, not the bus.)
	Conns int
	// Publishers bounds the answers being published at once; default 64.
	Publishers int
	// Reports is what a noop of rev shows, before the host's name is put
	// in; nil (for a revision) answers with an empty, unchanged report.
	Reports func(rev string) *report.Report
	Log     zerolog.Logger
}

// Name is the name of the fleet's host i.
func Name(i int) string { return fmt.Sprintf("h%05d.example.com", i) }

// Fleet is a running fake fleet. Stop it with Close.
type Fleet struct {
	opts  Options
	conns []*bus.Conn
	hosts []*host
	subs  []*nats.Subscription
	mode  atomic.Int32
	jobs  chan func(*bus.Conn) error
	stop  chan struct{}
	pool  sync.WaitGroup
	// errs counts failed publications; lastErr is the last one.
	errs    atomic.Int64
	lastErr atomic.Value

	mu sync.Mutex
	// received is, per revision, how many distinct hosts received a run.
	received map[string]int
	waiters  []waiter
	held     []*protocol.RunRequest
}

type host struct {
	name string
	mu   sync.Mutex
	// runs counts the run requests received per revision.
	runs map[string]int
}

type waiter struct {
	rev  string
	n    int
	done chan struct{}
}

// Start connects the fleet, registers every host in the hosts bucket with
// a fresh heartbeat (as an agent does) and subscribes each host to its
// noop runs.
func Start(ctx context.Context, o Options) (*Fleet, error) {
	if o.Conns <= 0 {
		o.Conns = 8
	}
	if o.Publishers <= 0 {
		o.Publishers = 64
	}
	f := &Fleet{opts: o, received: map[string]int{}, jobs: make(chan func(*bus.Conn) error), stop: make(chan struct{})}
	for i := range o.Conns {
		c, err := bus.Connect(ctx, bus.Options{URL: o.URL, Name: fmt.Sprintf("fleetsim-%d", i), Log: o.Log})
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("fleet: %w", err)
		}
		f.conns = append(f.conns, c)
	}
	for i := range o.Publishers {
		f.pool.Add(1)
		go f.publisher(f.conns[i%len(f.conns)])
	}
	f.hosts = make([]*host, o.Hosts)
	for i := range f.hosts {
		f.hosts[i] = &host{name: Name(i), runs: map[string]int{}}
	}
	if err := f.register(ctx); err != nil {
		f.Close()
		return nil, err
	}
	for i, h := range f.hosts {
		subject, err := bus.RunSubject(protocol.KindNoop, h.name)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("fleet: %w", err)
		}
		sub, err := f.conns[i%len(f.conns)].NC.Subscribe(subject, func(m *nats.Msg) { f.onRun(h, m) })
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("fleet: subscribe %s: %w", subject, err)
		}
		f.subs = append(f.subs, sub)
	}
	for _, c := range f.conns {
		if err := c.NC.Flush(); err != nil {
			f.Close()
			return nil, fmt.Errorf("fleet: %w", err)
		}
	}
	return f, nil
}

// register writes every host's heartbeat, several at a time.
func (f *Fleet) register(ctx context.Context) error {
	kv, err := f.conns[0].JS.KeyValue(ctx, "hosts")
	if err != nil {
		return fmt.Errorf("fleet: hosts bucket: %w", err)
	}
	now := time.Now().UTC()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	next := make(chan *host)
	for range f.opts.Publishers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for h := range next {
				data, err := bus.Marshal(protocol.HostInfo{Schema: protocol.SchemaVersion, Host: h.name, Version: "fleetsim", Started: now, Seen: now})
				if err == nil {
					_, err = kv.Put(ctx, h.name, data)
				}
				if err != nil {
					mu.Lock()
					first = cmpErr(first, fmt.Errorf("fleet: register %s: %w", h.name, err))
					mu.Unlock()
				}
			}
		}()
	}
	for _, h := range f.hosts {
		next <- h
	}
	close(next)
	wg.Wait()
	return first
}

func cmpErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

// Hosts are the names of the fleet's hosts, in order.
func (f *Fleet) Hosts() []string {
	out := make([]string, len(f.hosts))
	for i, h := range f.hosts {
		out[i] = h.name
	}
	return out
}

// SetMode sets how runs received from now on are answered.
func (f *Fleet) SetMode(m Mode) { f.mode.Store(int32(m)) }

func (f *Fleet) onRun(h *host, m *nats.Msg) {
	var req protocol.RunRequest
	if err := bus.Unmarshal(m.Data, &req); err != nil || req.Host != h.name || req.Kind != protocol.KindNoop {
		f.failed(fmt.Errorf("%s: unexpected run request on %s: %+v (%v)", h.name, m.Subject, req, err))
		return
	}
	h.mu.Lock()
	h.runs[req.Revision]++
	first := h.runs[req.Revision] == 1
	h.mu.Unlock()
	f.mu.Lock()
	if first {
		f.received[req.Revision]++
		n := f.received[req.Revision]
		f.waiters = slices.DeleteFunc(f.waiters, func(w waiter) bool {
			if w.rev == req.Revision && n >= w.n {
				close(w.done)
				return true
			}
			return false
		})
	}
	mode := Mode(f.mode.Load())
	if mode == Hold {
		f.held = append(f.held, &req)
	}
	f.mu.Unlock()
	if mode == Answer {
		f.answer(&req)
	}
}

// answer queues the publication of the host's report answering req. It
// is called from the host's subscription and must not wait for the
// publisher pool: its goroutine would otherwise stall the subscription.
func (f *Fleet) answer(req *protocol.RunRequest) {
	go f.queue(func(c *bus.Conn) error { return f.publishAnswer(c, req) })
}

func (f *Fleet) publishAnswer(c *bus.Conn, req *protocol.RunRequest) error {
	subject, err := bus.ReportSubject(protocol.KindNoop, req.Host)
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	r := &report.Report{Host: req.Host, Noop: true, PuppetStatus: "unchanged", Time: now}
	if f.opts.Reports != nil {
		if rec := f.opts.Reports(req.Revision); rec != nil {
			r = ForHost(rec, req.Host)
		}
	}
	res := protocol.RunResult{
		Schema: protocol.SchemaVersion, RunID: req.ID, Kind: req.Kind, Host: req.Host, Revision: req.Revision,
		Outcome: protocol.OutcomeDone, Report: r, StartedAt: now, FinishedAt: now,
	}
	_, err = c.Publish(context.Background(), subject, req.ID, res)
	return err
}

// queue hands job to the publishers; false when the fleet is closed.
func (f *Fleet) queue(job func(*bus.Conn) error) bool {
	select {
	case f.jobs <- job:
		return true
	case <-f.stop:
		return false
	}
}

func (f *Fleet) publisher(c *bus.Conn) {
	defer f.pool.Done()
	for {
		select {
		case job := <-f.jobs:
			if err := job(c); err != nil {
				f.failed(err)
			}
		case <-f.stop:
			return
		}
	}
}

func (f *Fleet) failed(err error) {
	f.errs.Add(1)
	f.lastErr.Store(err)
	f.opts.Log.Warn().Err(err).Msg("fleet")
}

// Err is the last error the fleet met (a run it could not read, an
// answer it could not publish) with how many there were; nil when none.
func (f *Fleet) Err() error {
	n := f.errs.Load()
	if n == 0 {
		return nil
	}
	return fmt.Errorf("fleet: %d errors, the last: %v", n, f.lastErr.Load())
}

// Release publishes the answers held since SetMode(Hold), after switching
// to Answer, and returns once they are all published.
func (f *Fleet) Release() {
	f.mu.Lock()
	f.mode.Store(int32(Answer))
	held := f.held
	f.held = nil
	f.mu.Unlock()
	var wg sync.WaitGroup
	wg.Add(len(held))
	for _, req := range held {
		if !f.queue(func(c *bus.Conn) error {
			defer wg.Done()
			return f.publishAnswer(c, req)
		}) {
			wg.Done()
		}
	}
	wg.Wait()
}

// PublishRaw publishes msgs (each with its Nats-Msg-Id header) to JetStream as the fleet publishes its
// answers (the same connections and publishers, one synced write each),
// and returns once they are all published: what its answers are measured
// against.
func (f *Fleet) PublishRaw(msgs []*nats.Msg) {
	var wg sync.WaitGroup
	wg.Add(len(msgs))
	for _, m := range msgs {
		if !f.queue(func(c *bus.Conn) error {
			defer wg.Done()
			_, err := c.JS.PublishMsg(context.Background(), m, jetstream.WithMsgID(m.Header.Get(nats.MsgIdHdr)))
			return err
		}) {
			wg.Done()
		}
	}
	wg.Wait()
}

// Received is how many distinct hosts received a run of rev.
func (f *Fleet) Received(rev string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.received[rev]
}

// Wait waits until n distinct hosts received a run of rev, or ctx ends.
func (f *Fleet) Wait(ctx context.Context, rev string, n int) error {
	f.mu.Lock()
	if f.received[rev] >= n {
		f.mu.Unlock()
		return nil
	}
	w := waiter{rev: rev, n: n, done: make(chan struct{})}
	f.waiters = append(f.waiters, w)
	f.mu.Unlock()
	select {
	case <-w.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%d of %d hosts received a run of %s: %w", f.Received(rev), n, protocol.Short(rev), ctx.Err())
	}
}

// CheckOnce checks that every host received exactly one run of each of
// revs (the revisions whose asking finished), and at most one of any
// other revision (one still being asked when a measurement was cut short).
func (f *Fleet) CheckOnce(revs []string) error {
	var problems []string
	for _, h := range f.hosts {
		h.mu.Lock()
		for _, rev := range revs {
			if n := h.runs[rev]; n != 1 {
				problems = append(problems, fmt.Sprintf("%s received %d runs of %s", h.name, n, protocol.Short(rev)))
			}
		}
		for rev, n := range h.runs {
			if n > 1 && !slices.Contains(revs, rev) {
				problems = append(problems, fmt.Sprintf("%s received %d runs of %s", h.name, n, protocol.Short(rev)))
			}
		}
		h.mu.Unlock()
	}
	if len(problems) == 0 {
		return nil
	}
	sort.Strings(problems)
	more := ""
	if len(problems) > 5 {
		more = fmt.Sprintf(" (and %d more)", len(problems)-5)
		problems = problems[:5]
	}
	return errors.New(strings.Join(problems, "; ") + more)
}

// Close unsubscribes the hosts, drops the answers not yet published and
// closes the connections. It is not called concurrently with Release or
// PublishRaw.
func (f *Fleet) Close() {
	for _, s := range f.subs {
		_ = s.Unsubscribe()
	}
	select {
	case <-f.stop:
	default:
		close(f.stop)
	}
	f.pool.Wait()
	for _, c := range f.conns {
		c.Close()
	}
}
