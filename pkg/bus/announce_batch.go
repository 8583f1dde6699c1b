package bus

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/balcony-dev/balcony/pkg/protocol"
)

// Announcement is one event of AnnounceAll, with its Nats-Msg-Id (none
// when empty).
type Announcement struct {
	MsgID string
	Event protocol.Event
}

// DefaultInFlight is how many announcements AnnounceAll keeps unacknowledged
// at once when told 0: enough to hide the round trip and the server's
// synced write of each, few enough that a slow server pushes back.
const DefaultInFlight = 256

// AnnounceAll announces evs as Announce would, asynchronously with at most
// inFlight (0: DefaultInFlight) waiting for the server's acknowledgement:
// a thousand announcements one at a time are a thousand round trips. It
// returns one error per announcement, nil for those the server stored;
// when ctx ends, those not yet acknowledged fail with its error.
func (c *Conn) AnnounceAll(ctx context.Context, evs []Announcement, inFlight int) []error {
	if inFlight <= 0 {
		inFlight = DefaultInFlight
	}
	errs := make([]error, len(evs))
	type pending struct {
		i   int
		fut jetstream.PubAckFuture
	}
	window := make([]pending, 0, inFlight)
	wait := func(p pending) {
		select {
		case <-p.fut.Ok():
		case err := <-p.fut.Err():
			errs[p.i] = fmt.Errorf("announce %s: %w", evs[p.i].Event.Type, err)
		case <-ctx.Done():
			errs[p.i] = fmt.Errorf("announce %s: %w", evs[p.i].Event.Type, ctx.Err())
		}
	}
	for i, a := range evs {
		if len(window) == inFlight {
			wait(window[0])
			window = window[1:]
		}
		if err := ctx.Err(); err != nil {
			errs[i] = fmt.Errorf("announce %s: %w", a.Event.Type, err)
			continue
		}
		msg, err := eventMsg(a.Event)
		if err != nil {
			errs[i] = err
			continue
		}
		var opts []jetstream.PublishOpt
		if a.MsgID != "" {
			opts = append(opts, jetstream.WithMsgID(a.MsgID))
		}
		fut, err := c.JS.PublishMsgAsync(msg, opts...)
		if err != nil {
			errs[i] = fmt.Errorf("announce %s: %w", a.Event.Type, err)
			continue
		}
		window = append(window, pending{i, fut})
	}
	for _, p := range window {
		wait(p)
	}
	return errs
}
