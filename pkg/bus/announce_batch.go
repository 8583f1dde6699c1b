package bus

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go"

	"github.com/balcony-dev/balcony/pkg/protocol"
)

// Announcement is one event of AnnounceAll, with its Nats-Msg-Id (none
// when empty).
type Announcement struct {
	MsgID string
	Event protocol.Event
}

// AnnounceAll announces evs as Announce would, asynchronously with at most
// inFlight (0: DefaultInFlight) waiting for the server's acknowledgement:
// a thousand announcements one at a time are a thousand round trips. It
// returns one error per announcement, nil for those the server stored;
// when ctx ends, those not yet acknowledged fail with its error.
func (c *Conn) AnnounceAll(ctx context.Context, evs []Announcement, inFlight int) []error {
	errs := make([]error, len(evs))
	msgs := make([]*nats.Msg, len(evs))
	ids := make([]string, len(evs))
	for i, a := range evs {
		msg, err := eventMsg(a.Event)
		if err != nil {
			errs[i] = err
			continue
		}
		msgs[i], ids[i] = msg, a.MsgID
	}
	for i, err := range c.publishMsgs(ctx, msgs, ids, inFlight) {
		if err != nil && errs[i] == nil {
			errs[i] = fmt.Errorf("announce %s: %w", evs[i].Event.Type, err)
		}
	}
	return errs
}
