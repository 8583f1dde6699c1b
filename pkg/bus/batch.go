package bus

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// AckTimeout is how long an asynchronous publish waits for the server's
// acknowledgement before it counts as failed.
const AckTimeout = 30 * time.Second

// DefaultInFlight is how many of a batch's messages PublishAll keeps
// unacknowledged at once: enough that the server's synced writes, not the
// round trips, bound a fan-out, and few enough that a batch of 10,000
// never queues them all in the client.
const DefaultInFlight = 256

// Outgoing is one message of a batch: Value encoded as msgpack (or Data
// as it is, for a value encoded already) to Subject, with MsgID as
// Nats-Msg-Id when set.
type Outgoing struct {
	Subject string
	MsgID   string
	Value   any
	Data    []byte
}

// PublishAll publishes msgs to JetStream asynchronously, with at most
// inFlight (DefaultInFlight when 0) waiting for their acknowledgements,
// and waits for every one. It returns nil when all were stored, else one
// error per message, nil for those stored, in the order of msgs: a caller
// retries only what failed. Duplicates (a message id already stored in
// the duplicate window) count as stored.
func (c *Conn) PublishAll(ctx context.Context, msgs []Outgoing, inFlight int) []error {
	errs := make([]error, len(msgs))
	out := make([]*nats.Msg, len(msgs))
	ids := make([]string, len(msgs))
	limit := c.PayloadLimit()
	for i, m := range msgs {
		data := m.Data
		if data == nil {
			var err error
			if data, err = Marshal(m.Value); err != nil {
				errs[i] = fmt.Errorf("publish %s: %w", m.Subject, err)
				continue
			}
		}
		if len(data) > limit {
			errs[i] = fmt.Errorf("publish %s: %w", m.Subject, &SizeError{What: fmt.Sprintf("%T", m.Value), Size: len(data), Limit: limit})
			continue
		}
		msg := nats.NewMsg(m.Subject)
		msg.Data = data
		msg.Header.Set("Content-Type", ContentTypeMsgpack)
		out[i], ids[i] = msg, m.MsgID
	}
	failed := false
	for i, err := range c.publishMsgs(ctx, out, ids, inFlight) {
		if err != nil && errs[i] == nil {
			errs[i] = fmt.Errorf("publish %s: %w", msgs[i].Subject, err)
		}
		failed = failed || errs[i] != nil
	}
	if !failed {
		return nil
	}
	return errs
}

// publishMsgs publishes msgs (a nil one is skipped) with ids as their
// Nats-Msg-Id (none when empty), asynchronously, with at most inFlight
// waiting for their acknowledgements, and waits for every one. It returns
// one error per message, nil for those stored.
func (c *Conn) publishMsgs(ctx context.Context, msgs []*nats.Msg, ids []string, inFlight int) []error {
	if inFlight <= 0 {
		inFlight = DefaultInFlight
	}
	errs := make([]error, len(msgs))
	type waiting struct {
		i   int
		ack jetstream.PubAckFuture
	}
	window := make([]waiting, 0, min(inFlight, len(msgs)))
	settle := func(w waiting) {
		select {
		case <-w.ack.Ok():
		case err := <-w.ack.Err():
			errs[w.i] = err
		case <-ctx.Done():
			errs[w.i] = ctx.Err()
		}
	}
	for i, msg := range msgs {
		if msg == nil {
			continue
		}
		if len(window) == inFlight {
			settle(window[0])
			window = window[1:]
		}
		if err := ctx.Err(); err != nil {
			errs[i] = err
			continue
		}
		var opts []jetstream.PublishOpt
		if ids[i] != "" {
			opts = append(opts, jetstream.WithMsgID(ids[i]))
		}
		ack, err := c.JS.PublishMsgAsync(msg, opts...)
		if err != nil {
			errs[i] = err
			continue
		}
		window = append(window, waiting{i: i, ack: ack})
	}
	for _, w := range window {
		settle(w)
	}
	return errs
}
