package agent

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/protocol"
	"github.com/balcony-dev/balcony/pkg/report"
)

// onLiveRun is the subscription's handler. The live message only wakes the
// run loop, which reads RUNS by sequence: that way a run is executed in
// order and exactly once whether it arrived live or by catch-up.
func (a *Agent) onLiveRun(msg *nats.Msg) {
	var req protocol.RunRequest
	if bus.Unmarshal(msg.Data, &req) == nil && req.ID != "" {
		a.sawLive(req.ID)
	}
	if busy := a.busyRun(); busy != "" {
		if req.ID != "" && req.ID != busy {
			ev := protocol.Event{
				Type: "run.queued", Host: a.opts.Host, Commit: req.Revision, Service: "agent",
				Text: fmt.Sprintf("%s: %s of %s waits for %s to finish", a.opts.Host, req.Kind, protocol.Short(req.Revision), busy),
				Data: map[string]any{"run_id": req.ID, "waiting_for": busy},
			}
			if err := a.conn.Announce(context.Background(), "queued:"+req.ID, ev); err != nil {
				a.log.Debug().Err(err).Msg("announce queued run")
			}
		}
	}
	signal(a.wake)
}

// catchUp executes, in stream order, every run of this host stored after
// the cursor. It returns when there is none left or ctx is done.
func (a *Agent) catchUp(ctx context.Context) error {
	for ctx.Err() == nil {
		msg, err := a.nextRun(ctx)
		if err != nil {
			return fmt.Errorf("get run after %d: %w", a.cursor.Seq(), err)
		}
		if msg == nil {
			return nil
		}
		if done := a.process(ctx, msg); !done {
			return nil // cancelled mid-run: run it again after a restart
		}
		if err := a.cursor.Set(msg.Sequence); err != nil {
			return err
		}
	}
	return nil
}

// nextRun is the first run of this host stored after the cursor, nil when
// there is none. It reads through a consumer created for the purpose with
// the host's filter and deleted after: its filter is in the API subject
// ($JS.API.CONSUMER.CREATE.RUNS.<name>.<filter>), which the server checks
// and permissions can limit to the host's own runs, where a direct get's
// subject is in the request body, out of their reach.
func (a *Agent) nextRun(ctx context.Context) (*jetstream.RawStreamMsg, error) {
	if a.catchUpFault != nil {
		if err := a.catchUpFault(); err != nil {
			return nil, err
		}
	}
	subject, err := bus.HostRunsSubject(a.opts.Host)
	if err != nil {
		return nil, err
	}
	name := bus.CatchUpConsumer(a.opts.Host)
	cfg := jetstream.ConsumerConfig{
		Name:          name,
		Description:   "agent catch-up (deleted after use)",
		FilterSubject: subject,
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:   a.cursor.Seq() + 1,
		AckPolicy:     jetstream.AckNonePolicy,
		// Removed by the server if this agent dies before deleting it.
		InactiveThreshold: time.Minute,
		MemoryStorage:     true,
		Replicas:          1,
	}
	cons, err := a.conn.JS.CreateConsumer(ctx, "RUNS", cfg)
	if errors.Is(err, jetstream.ErrConsumerExists) {
		// Left by a crash: it starts at the wrong place.
		if err := a.conn.JS.DeleteConsumer(ctx, "RUNS", name); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
			return nil, fmt.Errorf("delete stale consumer %s: %w", name, err)
		}
		cons, err = a.conn.JS.CreateConsumer(ctx, "RUNS", cfg)
	}
	if err != nil {
		return nil, fmt.Errorf("create consumer %s: %w", name, err)
	}
	defer func() {
		if err := a.conn.JS.DeleteConsumer(context.WithoutCancel(ctx), "RUNS", name); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
			a.log.Debug().Err(err).Str("consumer", name).Msg("delete the catch-up consumer")
		}
	}()
	if cons.CachedInfo().NumPending == 0 {
		return nil, nil
	}
	batch, err := cons.FetchNoWait(1)
	if err != nil {
		return nil, err
	}
	m, ok := <-batch.Messages()
	if !ok {
		// None, though NumPending counted one: it aged out since.
		return nil, batch.Error()
	}
	md, err := m.Metadata()
	if err != nil {
		return nil, err
	}
	return &jetstream.RawStreamMsg{Subject: m.Subject(), Sequence: md.Sequence.Stream, Header: m.Headers(), Data: m.Data(), Time: md.Timestamp}, nil
}

// process handles one stored run and reports whether it is finished with
// (answered or rejected). It is false only when ctx was cancelled.
func (a *Agent) process(ctx context.Context, msg *jetstream.RawStreamMsg) bool {
	var req protocol.RunRequest
	if err := bus.Unmarshal(msg.Data, &req); err != nil {
		a.conn.RejectRun(ctx, a.opts.Host, msg.Subject, err)
		return true
	}
	a.read(req.ID)
	kind, host, err := bus.SplitKindHost(bus.RunPrefix, msg.Subject)
	if err == nil && (req.Host != host || req.Kind != kind) {
		err = fmt.Errorf("run %s is for %s %s but was sent on %s", req.ID, req.Kind, req.Host, msg.Subject)
	}
	if err == nil && req.ID == "" {
		err = errors.New("run has no id")
	}
	if err != nil {
		a.conn.RejectRun(ctx, a.opts.Host, msg.Subject, fmt.Errorf("%w: %v", bus.ErrMalformed, err))
		return true
	}
	log := a.log.With().Str("run", req.ID).Str("kind", req.Kind).Str("revision", req.Revision).Logger()

	var res *protocol.RunResult
	done := true
	switch {
	case req.Expired(a.opts.Now()):
		log.Info().Time("deadline", req.Deadline).Msg("run expired before it could start")
		res = a.result(req, protocol.OutcomeExpired, report.Failure(a.opts.Host, "the run's deadline passed before it started"))
	case req.Kind == protocol.KindApply:
		res, done = a.apply(ctx, req, log)
	case req.Kind != protocol.KindNoop:
		res = a.result(req, protocol.OutcomeFailed, report.Failure(a.opts.Host, "this agent does not run "+req.Kind+" runs"))
	default:
		res, done = a.runPuppet(ctx, req, log)
	}
	if !done {
		return false
	}
	if err := a.publish(context.WithoutCancel(ctx), res); err != nil { // a finished run is reported even at shutdown
		log.Warn().Err(err).Msg("could not publish the run's result; it runs again")
		return false
	}
	a.metrics.runs.WithLabelValues(res.Kind, res.Outcome).Inc()
	return true
}

// runPuppet runs req with Puppet, the host marked busy meanwhile, and logs
// how it went. It is false when ctx was cancelled during the run.
func (a *Agent) runPuppet(ctx context.Context, req protocol.RunRequest, log zerolog.Logger) (*protocol.RunResult, bool) {
	a.setBusy(req.ID)
	signal(a.beatNow)
	log.Info().Msg("run started")
	res := a.execute(ctx, req)
	a.setBusy("")
	a.logRepairs() // the run may have fetched
	if ctx.Err() != nil {
		log.Info().Msg("run interrupted by shutdown; it runs again at the next start")
		return nil, false
	}
	signal(a.beatNow)
	a.metrics.observePuppet(res)
	ev := log.Info().Str("outcome", res.Outcome).Float64("took_seconds", res.FinishedAt.Sub(res.StartedAt).Seconds()).Float64("puppet_seconds", res.PuppetSeconds)
	if res.Report != nil {
		ev = ev.Int("resources", len(res.Report.Resources)).Bool("failed", res.Report.Failed)
		if res.Outcome != protocol.OutcomeDone || res.Report.Failed {
			if reason := failureReason(res.Report.Errors); reason != "" {
				ev = ev.Str("reason", reason)
			}
		}
	}
	ev.Msg("run finished")
	return res, true
}

// execute runs req, bounded by its deadline: past it the nooper has asked
// again, so a run stuck (on Puppet's lock, say) must not hold the host's
// queue. A run cut short that way is a failed result saying so.
func (a *Agent) execute(ctx context.Context, req protocol.RunRequest) *protocol.RunResult {
	if req.Deadline.IsZero() {
		return a.opts.Executor.Execute(ctx, req)
	}
	runCtx, cancel := context.WithDeadline(ctx, req.Deadline)
	defer cancel()
	return a.opts.Executor.Execute(runCtx, req)
}

// Bounds of the reason logged for a failed run: the report holds every
// error, the log line only what an operator needs to see why.
const (
	reasonErrors   = 3
	reasonErrorLen = 300
)

// failureReason is the first errors of a failed run's report, each cut to
// reasonErrorLen bytes (on a rune boundary), joined by "; ", with a count of
// those left out.
func failureReason(errs []string) string {
	var parts []string
	for _, e := range errs[:min(len(errs), reasonErrors)] {
		if len(e) > reasonErrorLen {
			cut := reasonErrorLen
			for cut > 0 && !utf8.RuneStart(e[cut]) {
				cut--
			}
			e = e[:cut] + "…"
		}
		parts = append(parts, e)
	}
	if n := len(errs) - len(parts); n > 0 {
		parts = append(parts, fmt.Sprintf("(%d more)", n))
	}
	return strings.Join(parts, "; ")
}

func (a *Agent) result(req protocol.RunRequest, outcome string, rep *report.Report) *protocol.RunResult {
	now := a.opts.Now().UTC()
	return &protocol.RunResult{
		Schema: protocol.SchemaVersion, RunID: req.ID, Kind: req.Kind, Host: a.opts.Host,
		Revision: req.Revision, Outcome: outcome, Report: rep, StartedAt: now, FinishedAt: now,
	}
}

// publish publishes res on the host's report subject. A result over the
// bus's limit is replaced by a failed one that says so (oversized): the
// run is answered once, never run again for a report that cannot be sent.
func (a *Agent) publish(ctx context.Context, res *protocol.RunResult) error {
	subject, err := bus.ReportSubject(res.Kind, a.opts.Host)
	if err != nil {
		return err
	}
	_, err = a.conn.Publish(ctx, subject, res.RunID, res)
	var tooLarge *bus.SizeError
	if errors.As(err, &tooLarge) {
		a.log.Warn().Str("run", res.RunID).Int("bytes", tooLarge.Size).Int("limit_bytes", tooLarge.Limit).Msg("the run's report is over the bus's limit; answering with a failure that says so")
		_, err = a.conn.Publish(ctx, subject, res.RunID, oversized(res, tooLarge))
	}
	return err
}
