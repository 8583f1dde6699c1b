package chatbridge

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/balcony-dev/balcony/pkg/chat"
	"github.com/balcony-dev/balcony/pkg/nooper"
	"github.com/balcony-dev/balcony/pkg/protocol"
)

const (
	// ackWait is how long an event may wait unacknowledged (coalescing,
	// IRC down) before the server delivers it again; a redelivery of an
	// event already waiting only refreshes its handle.
	ackWait = 30 * time.Second
	// maxAckPending bounds the events waiting for their line.
	maxAckPending = 512
	// flushTimeout bounds the last lines' sending on the way out.
	flushTimeout = 10 * time.Second
	// retryPause spaces attempts to send while a line is not confirmed.
	retryPause = time.Second
)

// postedKey is the bucket key recording that the line of the event at
// stream sequence seq was sent.
func postedKey(seq uint64) string { return "posted." + strconv.FormatUint(seq, 10) }

// announcer is the state of the announcement loop; one goroutine owns it.
type announcer struct {
	b       *Bridge
	co      *chat.Coalescer
	pending map[uint64]jetstream.Msg // by stream sequence
	outbox  []*chat.Batch
}

// announceLoop takes events in, coalesces them, and sends their lines:
// each line is sent, confirmed by the server, recorded in the bucket, and
// only then are its events acknowledged. A crash before the record sends
// the line again after the restart; never fewer.
func (b *Bridge) announceLoop(ctx context.Context, cc jetstream.ConsumeContext, msgs chan jetstream.Msg) error {
	a := &announcer{b: b, co: chat.NewCoalescer(b.opts.Config.Coalesce, b.opts.Config.ProgressEvery), pending: map[uint64]jetstream.Msg{}}
	var failed error
	for {
		var wake <-chan time.Time
		var ready <-chan struct{}
		next, ok := a.co.Next()
		if failed != nil {
			if errors.Is(failed, errOffline) {
				ready = b.irc.Ready()
			}
			if r := time.Now().Add(retryPause); !ok || r.Before(next) {
				next, ok = r, true
			}
		}
		var timer *time.Timer
		if ok {
			timer = time.NewTimer(time.Until(next))
			wake = timer.C
		}
		select {
		case <-ctx.Done():
			if timer != nil {
				timer.Stop()
			}
			cc.Stop()
			return a.drain(msgs)
		case m := <-msgs:
			a.take(ctx, m)
		case <-wake:
		case <-ready:
		}
		if timer != nil {
			timer.Stop()
		}
		a.outbox = append(a.outbox, a.co.Due(time.Now())...)
		// Not cut short by SIGTERM: a line sent and not yet confirmed
		// would stay in the outbox, and drain would send it again. The
		// confirmation's wait is bounded (confirmTimeout).
		failed = a.post(context.WithoutCancel(ctx))
		if failed != nil && !errors.Is(failed, errOffline) {
			b.log.Warn().Err(failed).Int("lines", len(a.outbox)).Msg("lines not confirmed; trying again")
		}
	}
}

// drain takes the events already delivered, sends every line still
// waiting, and acknowledges what was sent: SIGTERM loses and repeats
// nothing.
func (a *announcer) drain(msgs chan jetstream.Msg) error {
	ctx, cancel := context.WithTimeout(context.Background(), flushTimeout)
	defer cancel()
	for {
		select {
		case m := <-msgs:
			a.take(ctx, m)
			continue
		default:
		}
		break
	}
	a.outbox = append(a.outbox, a.co.Flush()...)
	if err := a.post(ctx); err != nil && len(a.outbox) > 0 {
		// Unacknowledged: delivered again to the next run.
		a.b.log.Warn().Err(err).Int("lines", len(a.outbox)).Msg("stopping with lines not sent; the next start sends them")
	}
	return nil
}

// take admits one delivered event.
func (a *announcer) take(ctx context.Context, m jetstream.Msg) {
	md, err := m.Metadata()
	if err != nil {
		a.b.log.Warn().Err(err).Msg("EVENTS message without metadata")
		_ = m.Term()
		return
	}
	seq := md.Sequence.Stream
	if _, ok := a.pending[seq]; ok {
		a.pending[seq] = m // redelivered while waiting: ack the newest
		return
	}
	var ev protocol.Event
	if err := json.Unmarshal(m.Data(), &ev); err != nil || ev.Type == "" || (ev.Commit != "" && !protocol.ValidSHA(ev.Commit)) {
		reason := "no type, or a commit that is not a full sha"
		if err != nil {
			reason = err.Error()
		}
		a.b.m.rejected.Inc()
		a.b.log.Warn().Str("subject", m.Subject()).Uint64("seq", seq).Str("reason", reason).Msg("malformed event dropped")
		_ = m.TermWithReason(reason)
		return
	}
	if chat.Classify(ev.Type) == chat.Skip {
		_ = m.Ack()
		return
	}
	if _, err := a.b.kv.Get(ctx, postedKey(seq)); err == nil {
		a.b.m.skipped.Inc()
		a.b.log.Info().Uint64("seq", seq).Str("type", ev.Type).Msg("line already sent before a restart; not again")
		_ = m.Ack()
		return
	} else if !errors.Is(err, jetstream.ErrKeyNotFound) {
		a.b.log.Warn().Err(err).Uint64("seq", seq).Msg("reading the posted record; trying again")
		_ = m.NakWithDelay(retryPause)
		return
	}
	if s, ok := chat.SubjectOf(ev); ok {
		a.b.subjects.put(ev.Commit, s)
	}
	a.pending[seq] = m
	for _, it := range a.co.Add(chat.Item{Seq: seq, Event: ev}, time.Now()) {
		a.ack(it.Seq)
	}
}

// post sends the outbox's lines, then records and acknowledges their
// events. On error the outbox stays for the next attempt.
func (a *announcer) post(ctx context.Context) error {
	if len(a.outbox) == 0 {
		return nil
	}
	lines := make([]string, 0, len(a.outbox))
	for _, bt := range a.outbox {
		lines = append(lines, chat.Format(bt, a.b.subject(ctx, bt.Commit), a.b.opts.Config.People))
	}
	if err := a.b.irc.announce(ctx, lines); err != nil {
		return err
	}
	now := time.Now()
	for _, bt := range a.outbox {
		for _, it := range bt.Items {
			if _, err := a.b.kv.Put(ctx, postedKey(it.Seq), []byte(it.Event.Type)); err != nil {
				// Acknowledged all the same: the line is out, and an
				// unacknowledged event would only be posted again.
				a.b.log.Warn().Err(err).Uint64("seq", it.Seq).Msg("recording a sent line")
			}
			a.ack(it.Seq)
			a.b.m.announced.WithLabelValues(it.Event.Type).Inc()
		}
		a.co.Sent(bt, now)
	}
	a.outbox = nil
	return nil
}

func (a *announcer) ack(seq uint64) {
	if m, ok := a.pending[seq]; ok {
		if err := m.Ack(); err != nil {
			a.b.log.Debug().Err(err).Uint64("seq", seq).Msg("ack")
		}
		delete(a.pending, seq)
	}
}

// subject is the commit's subject for a line: from the events seen, else
// the nooper's; "" when neither knows it.
func (b *Bridge) subject(ctx context.Context, sha string) string {
	if sha == "" {
		return ""
	}
	if s, ok := b.subjects.get(sha); ok {
		return s
	}
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	doc, _, err := nooper.Client{NC: b.conn.NC}.Show(rctx, sha)
	if err != nil {
		b.log.Debug().Err(err).Str("commit", sha).Msg("subject of a commit")
		return ""
	}
	b.subjects.put(sha, doc.Commit.Subject)
	return doc.Commit.Subject
}
