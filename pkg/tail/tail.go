// Package tail reads any balcony subject's messages, from a stream
// position or live, and prints each as one JSON object: its stream
// sequence, subject, time, headers and payload decoded by the subject's
// type (msgpack protocol records, JSON events, key-value entries), so that
// every message on the bus can be read without code (`nooper tail`).
// Decoding (decode.go) and finding a subject's stream (streams.go) are
// pure; this file does the reading.
package tail

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/balcony-dev/balcony/pkg/bus"
)

// Options says what to read and from where. The zero value (with Subject
// set) reads new messages as they come.
type Options struct {
	// Subject is a subject or a filter with wildcards (* and >), within
	// one stream, or outside every stream.
	Subject string
	// At most one of FromSeq, Since, Last and All gives a start; none
	// means new messages only.
	FromSeq uint64
	Since   time.Duration
	Last    int
	All     bool
	// NoFollow stops at the last message there is when the reading
	// starts (or at once when there is none), instead of waiting for
	// more.
	NoFollow bool
	// Live reads a subject of a stream by plain subscription, as for a
	// subject in no stream: new messages only, no sequence, but no
	// JetStream rights needed (a person's credentials may subscribe to
	// events without creating consumers).
	Live bool
	// Pretty indents each object.
	Pretty bool
	// Declaration is streams.yaml, parsed: where subjects live.
	Declaration *bus.Declaration
	// Now is the clock Since counts back from; nil means time.Now.
	Now func() time.Time
}

// ErrNotInStream is returned when a start position is asked for a
// subject that no stream keeps.
var ErrNotInStream = errors.New("the subject is in no stream")

// Run prints the messages o asks for to w until ctx ends or, with
// NoFollow, the end is reached. It returns nil when ctx ends.
func Run(ctx context.Context, nc *nats.Conn, js jetstream.JetStream, o Options, w io.Writer) error {
	if err := o.validate(); err != nil {
		return err
	}
	stream, err := StreamFor(o.Declaration, o.Subject)
	if err != nil {
		return err
	}
	p := printer{w: w, pretty: o.Pretty}
	if stream == "" || o.Live {
		if o.started() || o.NoFollow {
			if o.Live {
				return errors.New("--live reads new messages only (no --from-seq, --since, --last, --all, --no-follow)")
			}
			return fmt.Errorf("%w: %s is read live only (no --from-seq, --since, --last, --all, --no-follow)", ErrNotInStream, o.Subject)
		}
		return live(ctx, nc, o.Subject, p)
	}
	if err := fromStream(ctx, js, stream, o, p); err != nil {
		return fmt.Errorf("%w (credentials without consumers on %s can still follow it with --live)", err, stream)
	}
	return nil
}

func (o Options) started() bool { return o.FromSeq > 0 || o.Since > 0 || o.Last > 0 || o.All }

func (o Options) validate() error {
	if o.Subject == "" {
		return errors.New("no subject")
	}
	if o.Declaration == nil {
		return errors.New("no stream declaration")
	}
	n := 0
	for _, set := range []bool{o.FromSeq > 0, o.Since > 0, o.Last > 0, o.All} {
		if set {
			n++
		}
	}
	if n > 1 {
		return errors.New("give at most one of --from-seq, --since, --last and --all")
	}
	if o.Since < 0 || o.Last < 0 {
		return errors.New("--since and --last must be positive")
	}
	return nil
}

// live prints what a plain subscription to subject receives.
func live(ctx context.Context, nc *nats.Conn, subject string, p printer) error {
	msgs := make(chan *nats.Msg, 256)
	sub, err := nc.ChanSubscribe(subject, msgs)
	if err != nil {
		return fmt.Errorf("subscribe %s: %w", subject, err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	// Once the server has the subscription, what is published is seen.
	fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := nc.FlushWithContext(fctx); err != nil {
		return fmt.Errorf("subscribe %s: %w", subject, err)
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case m := <-msgs:
			now := time.Now().UTC()
			r := Record{Subject: m.Subject, Received: &now, Headers: headers(m.Header)}
			Decode(&r, m.Subject, m.Header, m.Data)
			if err := p.print(r); err != nil {
				return err
			}
		}
	}
}

// fromStream prints the messages of stream that match o.Subject, read
// by an ordered consumer from o's position.
func fromStream(ctx context.Context, js jetstream.JetStream, name string, o Options, p printer) error {
	s, err := js.Stream(ctx, name)
	if err != nil {
		return fmt.Errorf("stream %s: %w", name, err)
	}
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{o.Subject}, DeliverPolicy: jetstream.DeliverNewPolicy}
	switch {
	case o.All:
		cfg.DeliverPolicy = jetstream.DeliverAllPolicy
	case o.FromSeq > 0:
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, o.FromSeq
	case o.Since > 0:
		now := time.Now
		if o.Now != nil {
			now = o.Now
		}
		start := now().Add(-o.Since)
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &start
	case o.Last > 0:
		seq, err := lastN(ctx, s, o.Subject, uint64(o.Last))
		if err != nil {
			return err
		}
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, seq
	}
	if o.NoFollow && cfg.DeliverPolicy == jetstream.DeliverNewPolicy {
		return nil // nothing new is there yet
	}
	cons, err := s.OrderedConsumer(ctx, cfg)
	if err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	it, err := cons.Messages()
	if err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	defer it.Stop()
	// The iterator's Next does not watch ctx: stopping it ends Next.
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	if o.NoFollow {
		// With nothing to read, no message will say it is the last.
		info, err := cons.Info(ctx)
		if err != nil {
			return fmt.Errorf("read %s: %w", name, err)
		}
		if info.NumPending == 0 && info.Delivered.Consumer == 0 {
			return nil
		}
	}
	for {
		m, err := it.Next()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return nil
			}
			return fmt.Errorf("read %s: %w", name, err)
		}
		meta, err := m.Metadata()
		if err != nil {
			return fmt.Errorf("read %s: %w", name, err)
		}
		at := meta.Timestamp.UTC()
		r := Record{Stream: name, Seq: meta.Sequence.Stream, Subject: m.Subject(), Time: &at, Headers: headers(m.Headers())}
		Decode(&r, m.Subject(), m.Headers(), m.Data())
		if err := p.print(r); err != nil {
			return err
		}
		if o.NoFollow && meta.NumPending == 0 {
			return nil
		}
	}
}

// lastN is the stream sequence to start from to read the last n messages
// matching filter: the smallest sequence from which at most n match,
// found by bisection over the stream's sequences with a throw-away
// consumer each (its NumPending counts the matches from its start), so
// that nothing before is read.
func lastN(ctx context.Context, s jetstream.Stream, filter string, n uint64) (uint64, error) {
	state := s.CachedInfo().State
	lo, hi := max(state.FirstSeq, 1), state.LastSeq+1
	pending := func(seq uint64) (uint64, error) {
		c, err := s.CreateConsumer(ctx, jetstream.ConsumerConfig{
			FilterSubject: filter, DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: seq,
			AckPolicy: jetstream.AckNonePolicy, MemoryStorage: true, Replicas: 1, InactiveThreshold: time.Minute,
		})
		if err != nil {
			return 0, fmt.Errorf("count the messages of %s from %d: %w", filter, seq, err)
		}
		info := c.CachedInfo()
		_ = s.DeleteConsumer(ctx, info.Name) // else the server drops it when inactive
		return info.NumPending, nil
	}
	if k, err := pending(lo); err != nil || k <= n {
		return lo, err
	}
	// pending(lo) > n >= pending(hi) = 0.
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		k, err := pending(mid)
		if err != nil {
			return 0, err
		}
		if k > n {
			lo = mid
		} else {
			hi = mid
		}
	}
	return hi, nil
}

// printer writes Records as JSON lines.
type printer struct {
	w      io.Writer
	pretty bool
}

func (p printer) print(r Record) error {
	enc := json.NewEncoder(p.w)
	enc.SetEscapeHTML(false)
	if p.pretty {
		enc.SetIndent("", "  ")
	}
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("print %s: %w", r.Subject, err)
	}
	return nil
}
