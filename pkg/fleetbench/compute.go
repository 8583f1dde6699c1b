package fleetbench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/balcony-dev/balcony/pkg/approver"
	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/delta"
	"github.com/balcony-dev/balcony/pkg/fleetsim"
	"github.com/balcony-dev/balcony/pkg/gitrepo"
	"github.com/balcony-dev/balcony/pkg/nooper"
	"github.com/balcony-dev/balcony/pkg/protocol"
)

// delta measures delta.Compute over n hosts whose commit and parent noops
// are two consecutive recorded runs, each replicated to cfg.Resources
// resources: its time, and the memory it allocates (TotalAlloc during the
// call, an upper bound of its peak).
func (b *bench) delta(ctx context.Context, n int, hr *HostsResult) {
	commit := fleetsim.Replicate(b.reports[2], b.cfg.Resources)
	parent := fleetsim.Replicate(b.reports[1], b.cfg.Resources)
	inputs := make([]delta.HostInput, n)
	for i := range inputs {
		h := fleetsim.Name(i)
		inputs[i] = delta.HostInput{
			Host: h, Commit: fleetsim.ForHost(commit, h),
			Baselines: []delta.Baseline{{Revision: "parent", Report: fleetsim.ForHost(parent, h)}},
		}
	}
	alloc := hr.figure(DeltaAlloc)
	if why := b.deltaTooLarge(inputs); why != "" {
		hr.figure(Delta).Missing, alloc.Missing = why, "not run (see the time)"
		b.progress("%d hosts: %s %s", n, Delta, why)
		return
	}
	for range b.cfg.Runs {
		// Compute cannot be interrupted: the budget is checked after it.
		if !b.measure(ctx, n, Delta, hr.figure(Delta), func(ctx context.Context) (float64, error) {
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			start := time.Now()
			res := delta.Compute("commit", "parent", inputs, delta.Options{})
			took := time.Since(start)
			runtime.ReadMemStats(&after)
			if len(res.Groups) == 0 {
				return 0, errors.New("the delta has no groups: the recorded reports do not differ")
			}
			alloc.Samples = append(alloc.Samples, mib(int64(after.TotalAlloc-before.TotalAlloc)))
			return took.Seconds(), ctx.Err()
		}) {
			alloc.Missing = hr.figure(Delta).Missing
			return
		}
	}
}

// deltaTooLarge computes the delta of a tenth of the hosts, when there
// are more than 1,000, and says why the whole is not computed when, grown
// linearly (a lower bound), it would take longer than the budget or
// allocate more than cfg.MaxMemory: delta.Compute cannot be interrupted,
// and a harness that exhausts the machine's memory reports nothing.
func (b *bench) deltaTooLarge(inputs []delta.HostInput) string {
	if len(inputs) <= 1000 {
		return ""
	}
	part := inputs[:len(inputs)/10]
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	res := delta.Compute("commit", "parent", part, delta.Options{})
	took := time.Since(start)
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(res)
	scale := float64(len(inputs)) / float64(len(part))
	t, a := time.Duration(float64(took)*scale), float64(after.TotalAlloc-before.TotalAlloc)*scale
	if t <= b.cfg.Budget && a <= float64(b.cfg.MaxMemory) {
		return ""
	}
	return fmt.Sprintf("not run: %d hosts took %s and allocated %.0f MiB, so at least %s and %.1f GiB here (budget %s, memory limit %.1f GiB)",
		len(part), took.Round(time.Millisecond), mib(int64(after.TotalAlloc-before.TotalAlloc)), t.Round(time.Second), a/(1<<30), b.cfg.Budget, float64(b.cfg.MaxMemory)/(1<<30))
}

// fixedNoops hands the approver a noop built in memory: the approver is
// measured, not the nooper's collection service.
type fixedNoops map[string]*nooper.Collection

func (f fixedNoops) Collection(_ context.Context, rev string) (*nooper.Collection, error) {
	if c, ok := f[rev]; ok {
		return c, nil
	}
	return nil, fmt.Errorf("%s: %w", rev, nooper.ErrUnknownCommit)
}

// approverNoop is a finished noop of sha on hosts with groups change
// groups: recorded resources with distinct titles, group g on the hosts
// whose index is g modulo groups (so every host is in one group), and
// the first ten groups on every host.
func (b *bench) approverNoop(sha, parent string, hosts []string, groups int) *nooper.Collection {
	res := &delta.Result{Commit: sha, Parent: parent, Hosts: hosts}
	base := fleetsim.Replicate(b.reports[2], groups)
	for g := range groups {
		grp := delta.Group{ID: fmt.Sprintf("%012x", g+1), Resource: base.Resources[g]}
		for i := g; i < len(hosts); i += groups {
			grp.Hosts = append(grp.Hosts, hosts[i])
		}
		if g < 10 {
			grp.Hosts = hosts
		}
		res.Groups = append(res.Groups, grp)
	}
	now := time.Now().UTC()
	return &nooper.Collection{
		Schema: protocol.SchemaVersion, Repo: "puppet", Branch: "main",
		Commit: protocol.Commit{SHA: sha, Parents: []string{parent}}, Chain: []string{parent},
		State: nooper.StateReady, Hosts: hosts, Started: now, Finished: now, Result: res, Announced: true,
	}
}

// approver measures, Runs times, the approver evaluating a noop.ready of
// every host and cfg.Groups groups: from the event's publication to its
// record in the approvals bucket (written after it announced what is
// needed).
func (b *bench) approver(ctx context.Context, e *env, hr *HostsResult) {
	fig := hr.figure(Approver)
	code, err := gitrepo.Mirror(ctx, e.repo, filepath.Join(e.dir, "approver.git"))
	if err != nil {
		fig.Missing = "failed: " + err.Error()
		return
	}
	first := 2 + 2*b.cfg.Runs
	noops := fixedNoops{}
	for k := first; k < first+b.cfg.Runs; k++ {
		noops[e.shas[k]] = b.approverNoop(e.shas[k], e.shas[k-1], e.fleet.Hosts(), b.cfg.Groups)
	}
	actx, cancel := context.WithCancel(ctx)
	a, err := approver.New(actx, e.conn, approver.Options{
		Code: code, Noops: noops, Log: b.log,
		Config: approver.Config{Logins: map[string]string{fleetsim.AuthorEmail: "bench"}},
	})
	if err != nil {
		cancel()
		fig.Missing = "failed: " + err.Error()
		return
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(actx) }()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(time.Minute):
			b.progress("%d hosts: the approver did not stop a minute after it was told to", e.n)
		}
	}()
	wctx, wcancel := context.WithTimeout(ctx, b.cfg.Budget)
	defer wcancel()
	if err := waitService(wctx, e.conn.NC, "balcony-approver", 3); err != nil {
		fig.Missing = "failed: " + err.Error()
		return
	}
	for k := first; k < first+b.cfg.Runs; k++ {
		if !b.measure(ctx, e.n, Approver, fig, func(ctx context.Context) (float64, error) {
			return evaluateOnce(ctx, e.conn, e.shas[k])
		}) {
			return
		}
	}
}

// evaluateOnce publishes the noop.ready of sha and waits for the
// approver's record of it.
func evaluateOnce(ctx context.Context, conn *bus.Conn, sha string) (float64, error) {
	written := make(chan struct{}, 1)
	sub, err := conn.NC.Subscribe("$KV.approvals."+sha, func(*nats.Msg) {
		select {
		case written <- struct{}{}:
		default:
		}
	})
	if err != nil {
		return 0, err
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := conn.NC.Flush(); err != nil {
		return 0, err
	}
	data, err := json.Marshal(protocol.Event{Type: "noop.ready", Repo: "puppet", Commit: sha, Service: "nooper", Time: time.Now().UTC()})
	if err != nil {
		return 0, err
	}
	start := time.Now()
	if _, err := conn.JS.Publish(ctx, bus.EventPrefix+"noop.ready", data); err != nil {
		return 0, err
	}
	select {
	case <-written:
		return time.Since(start).Seconds(), nil
	case <-ctx.Done():
		return 0, fmt.Errorf("no approvals record of %s: %w", protocol.Short(sha), ctx.Err())
	}
}

// waitService waits until the micro service name lists its endpoints.
func waitService(ctx context.Context, nc *nats.Conn, name string, endpoints int) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		msg, err := nc.Request("$SRV.INFO."+name, nil, time.Second)
		var info micro.Info
		if err == nil && json.Unmarshal(msg.Data, &info) == nil && len(info.Endpoints) >= endpoints {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the %s service: %w", name, ctx.Err())
		case <-tick.C:
		}
	}
}
