package bus

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// ErrSkip is wrapped by a handler's error when a well-formed message
// refers to something that does not exist (a commit nobody nooped): it is
// acknowledged and logged, never retried, so that it cannot hold up the
// messages behind it.
var ErrSkip = errors.New("skipped")

// Handler handles one JetStream message. Its error decides the delivery:
// nil acknowledges; ErrMalformed rejects (logged, announced on
// balcony.event.rejected.<service>, never redelivered); ErrSkip acknowledges with a
// log line; any other error redelivers after a pause that grows with each
// attempt, up to a minute.
type Handler func(ctx context.Context, m jetstream.Msg) error

// Deliver wraps h with those delivery rules for jetstream's Consume.
func (c *Conn) Deliver(ctx context.Context, service string, h Handler) jetstream.MessageHandler {
	return func(m jetstream.Msg) {
		err := h(ctx, m)
		switch {
		case err == nil:
			_ = m.Ack()
		case errors.Is(err, ErrMalformed):
			c.Reject(ctx, service, m.Subject(), err)
			_ = m.TermWithReason(err.Error())
		case errors.Is(err, ErrSkip):
			c.log.Info().Str("service", service).Str("subject", m.Subject()).Err(err).Msg("message skipped")
			_ = m.Ack()
		default:
			attempt := uint64(1)
			if md, merr := m.Metadata(); merr == nil {
				attempt = md.NumDelivered
			}
			ev := c.log.Warn()
			if attempt >= 10 {
				ev = c.log.Error()
			}
			ev.Str("service", service).Str("subject", m.Subject()).Uint64("attempt", attempt).Err(err).Msg("message not processed; retrying")
			_ = m.NakWithDelay(retryDelay(attempt))
		}
	}
}

// retryDelay is 1s after the first attempt, doubling up to a minute.
func retryDelay(attempt uint64) time.Duration {
	d := time.Second
	for i := uint64(1); i < attempt && d < time.Minute; i++ {
		d *= 2
	}
	return min(d, time.Minute)
}

// Durable describes one of balcony's durable consumers. All of them ack
// explicitly, give a handler a minute before redelivery, and never give
// up (Deliver paces the retries).
type Durable struct {
	Stream, Name, Description, Filter string
	// MaxAckPending is how many messages may be in flight; 1 keeps them
	// in order.
	MaxAckPending int
	// Workers is how many messages are handled at once, each on its own
	// goroutine (at most MaxAckPending); 0 or 1 handles them one at a
	// time, in order. A handler whose work is mostly waiting on the
	// server (a store write) keeps up with a fleet only with several.
	Workers int
	// AckWait is how long the server waits for a message's
	// acknowledgement before it delivers it again; 0 means a minute. A
	// message sent to a client whose server died is delivered again
	// only then, so a consumer of quick handlers sets it shorter.
	AckWait time.Duration
}

// Consume creates or updates the durable consumer d and delivers its
// messages to h with the rules of Deliver. Stop the returned context to
// stop.
func (c *Conn) Consume(ctx context.Context, service string, d Durable, h Handler) (jetstream.ConsumeContext, error) {
	cons, err := c.JS.CreateOrUpdateConsumer(ctx, d.Stream, jetstream.ConsumerConfig{
		Durable:       d.Name,
		Description:   d.Description,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       cmp.Or(d.AckWait, time.Minute),
		MaxAckPending: max(d.MaxAckPending, 1),
		FilterSubject: d.Filter,
		MaxDeliver:    -1,
	})
	if err != nil {
		return nil, fmt.Errorf("consumer %s on %s: %w", d.Name, d.Stream, err)
	}
	deliver := c.Deliver(ctx, service, h)
	workers := min(d.Workers, max(d.MaxAckPending, 1))
	if workers <= 1 {
		cc, err := cons.Consume(deliver)
		if err != nil {
			return nil, fmt.Errorf("consume %s on %s: %w", d.Name, d.Stream, err)
		}
		return cc, nil
	}
	p := &pool{msgs: make(chan jetstream.Msg), done: make(chan struct{})}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		select {
		case p.msgs <- m:
		case <-p.done: // stopping: left unacknowledged, so redelivered
		}
	})
	if err != nil {
		return nil, fmt.Errorf("consume %s on %s: %w", d.Name, d.Stream, err)
	}
	p.ConsumeContext = cc
	for range workers {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			for {
				select {
				case m := <-p.msgs:
					deliver(m)
				case <-p.done:
					return
				}
			}
		}()
	}
	return p, nil
}

// pool is a consumption whose messages several goroutines handle. Stop
// returns once they are all done.
type pool struct {
	jetstream.ConsumeContext
	msgs chan jetstream.Msg
	done chan struct{}
	once sync.Once
	wg   sync.WaitGroup
}

func (p *pool) Stop() {
	p.ConsumeContext.Stop()
	p.once.Do(func() { close(p.done) })
	p.wg.Wait()
}
