package committer

import (
	"context"

	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/protocol"
)

// BusPublisher publishes commit events on balcony.commit.<repo>.
type BusPublisher struct{ Conn *bus.Conn }

// PublishCommits publishes ev with Nats-Msg-Id repo:ref:new.
func (p BusPublisher) PublishCommits(ctx context.Context, ev protocol.CommitEvent) error {
	subject, err := bus.CommitSubject(ev.Repo)
	if err != nil {
		return err
	}
	_, err = p.Conn.Publish(ctx, subject, ev.Repo+":"+ev.Ref+":"+ev.New, ev)
	return err
}
