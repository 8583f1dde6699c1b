package bus

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/balcony-dev/balcony/pkg/protocol"
)

// Publish encodes v as msgpack and publishes it to JetStream with msgID as
// Nats-Msg-Id, so a retry or redelivery is dropped by the server's
// duplicate window instead of counted twice. A payload over PayloadLimit
// is not sent: the error is a *SizeError (ErrTooLarge), which a retry
// cannot cure.
func (c *Conn) Publish(ctx context.Context, subject, msgID string, v any) (*jetstream.PubAck, error) {
	data, err := Marshal(v)
	if err != nil {
		return nil, err
	}
	if limit := c.PayloadLimit(); len(data) > limit {
		return nil, fmt.Errorf("publish %s: %w", subject, &SizeError{What: fmt.Sprintf("%T", v), Size: len(data), Limit: limit})
	}
	msg := nats.NewMsg(subject)
	msg.Data = data
	msg.Header.Set("Content-Type", ContentTypeMsgpack)
	ack, err := c.JS.PublishMsg(ctx, msg, jetstream.WithMsgID(msgID))
	if err != nil {
		return nil, fmt.Errorf("publish %s: %w", subject, err)
	}
	return ack, nil
}

// EventSubject is where ev is announced: balcony.event.<ev.Type>, then
// the host after an agent's run.* events and the service after a
// rejection, so that permissions can give each publisher its own subjects
// (an agent cannot announce about another host, nor as another service).
func EventSubject(ev protocol.Event) (string, error) {
	for _, tok := range strings.Split(ev.Type, ".") {
		if err := ValidToken(tok); err != nil {
			return "", fmt.Errorf("event type %q: %w", ev.Type, err)
		}
	}
	switch {
	case strings.HasPrefix(ev.Type, "run."):
		if err := ValidHost(ev.Host); err != nil {
			return "", fmt.Errorf("event %s: %w", ev.Type, err)
		}
		return EventPrefix + ev.Type + "." + ev.Host, nil
	case ev.Type == "rejected":
		if err := ValidToken(ev.Service); err != nil {
			return "", fmt.Errorf("event %s: service: %w", ev.Type, err)
		}
		return EventPrefix + ev.Type + "." + ev.Service, nil
	}
	return EventPrefix + ev.Type, nil
}

// Announce publishes ev as JSON on its EventSubject. The Time is filled in
// when zero. msgID makes the announcement idempotent: a restart that
// announces the same thing again is dropped by the server.
func (c *Conn) Announce(ctx context.Context, msgID string, ev protocol.Event) error {
	msg, err := eventMsg(ev)
	if err != nil {
		return err
	}
	opts := []jetstream.PublishOpt{}
	if msgID != "" {
		opts = append(opts, jetstream.WithMsgID(msgID))
	}
	if _, err := c.JS.PublishMsg(ctx, msg, opts...); err != nil {
		return fmt.Errorf("announce %s: %w", ev.Type, err)
	}
	return nil
}

// eventMsg is ev encoded as JSON on its EventSubject, its Time filled in
// when zero.
func eventMsg(ev protocol.Event) (*nats.Msg, error) {
	subject, err := EventSubject(ev)
	if err != nil {
		return nil, fmt.Errorf("announce: %w", err)
	}
	if ev.Time.IsZero() {
		ev.Time = time.Now().UTC()
	}
	data, err := json.Marshal(ev)
	if err != nil {
		return nil, fmt.Errorf("encode event %s: %w", ev.Type, err)
	}
	msg := nats.NewMsg(subject)
	msg.Data = data
	msg.Header.Set("Content-Type", "application/json")
	return msg, nil
}

// Reject logs a malformed message with its reason and announces it on
// balcony.event.rejected.<service>, so that a bad publisher is visible on
// the bus. The caller then terminates the message (it is never
// redelivered).
func (c *Conn) Reject(ctx context.Context, service, subject string, reason error) {
	c.reject(ctx, protocol.Event{Type: "rejected", Service: service}, subject, reason)
}

// RejectRun is Reject for the agent of host, announced on
// balcony.event.run.rejected.<host>.
func (c *Conn) RejectRun(ctx context.Context, host, subject string, reason error) {
	c.reject(ctx, protocol.Event{Type: "run.rejected", Service: "agent", Host: host}, subject, reason)
}

func (c *Conn) reject(ctx context.Context, ev protocol.Event, subject string, reason error) {
	if c.metrics != nil { // nil: a Conn not made by Connect (tests)
		c.metrics.rejections.WithLabelValues(ev.Service, RejectClass(reason)).Inc()
	}
	c.log.Warn().Str("service", ev.Service).Str("subject", subject).Err(reason).Msg("rejected a malformed message")
	ev.Text = fmt.Sprintf("%s rejected a message on %s: %v", ev.Service, subject, reason)
	ev.Data = map[string]any{"subject": subject, "reason": reason.Error()}
	if err := c.Announce(ctx, "", ev); err != nil {
		c.log.Warn().Err(err).Msg("could not announce a rejected message")
	}
}
