package committer

import (
	"context"
	"fmt"

	"github.com/nats-io/nuid"

	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/protocol"
)

// BusPublisher publishes commit events on balcony.commit.<repo>.
type BusPublisher struct{ Conn *bus.Conn }

// PublishCommits publishes ev with Nats-Msg-Id repo:ref:new:<unique>.
// The id dedupes this publication's own retries only: an id anyone could
// predict would let an event published first under it (by another holder
// of the committer's rights, before the push) make the server drop this
// one as a duplicate, and the push would never be nooped. Publishing a
// push twice (the hook, then watch) is harmless: the nooper reads what is
// new from its mirror.
func (p BusPublisher) PublishCommits(ctx context.Context, ev protocol.CommitEvent) error {
	subject, err := bus.CommitSubject(ev.Repo)
	if err != nil {
		return err
	}
	_, err = p.Conn.Publish(ctx, subject, ev.Repo+":"+ev.Ref+":"+ev.New+":"+nuid.Next(), ev)
	return err
}

// PublishComment publishes c on balcony.github.comment with Nats-Msg-Id
// github-comment:<id>:<action>, so a redelivered webhook counts once.
func (p BusPublisher) PublishComment(ctx context.Context, c protocol.GitHubComment) error {
	_, err := p.Conn.Publish(ctx, "balcony.github.comment", fmt.Sprintf("github-comment:%d:%s", c.CommentID, c.Action), c)
	return err
}
