package committer

import (
	"context"
	"fmt"

	"github.com/nats-io/nuid"
	"github.com/rs/zerolog"

	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/protocol"
)

// BusPublisher publishes commit events on balcony.commit.<repo>.
type BusPublisher struct {
	Conn *bus.Conn
	// Log says when messages were cut to fit; the zero Logger discards.
	Log zerolog.Logger
}

// PublishCommits publishes ev, its commit messages cut (FitEvent) when it
// would not fit in a message, with Nats-Msg-Id repo:ref:new:<unique>. The
// id dedupes this publication's own retries only: an id anyone could
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
	limit := p.Conn.PayloadLimit()
	fit, cut, err := FitEvent(ev, limit, func(e protocol.CommitEvent) (int, error) {
		data, err := bus.Marshal(e)
		return len(data), err
	})
	if err != nil {
		return err
	}
	if cut > 0 {
		p.Log.Warn().Str("ref", ev.Ref).Str("new", ev.New).Int("cut", cut).Int("limit_bytes", limit).Msg("commit messages cut to fit the bus's limit")
	}
	_, err = p.Conn.Publish(ctx, subject, ev.Repo+":"+ev.Ref+":"+ev.New+":"+nuid.Next(), fit)
	return err
}

// PublishComment publishes c on balcony.github.comment with Nats-Msg-Id
// github-comment:<id>:<action>, so a redelivered webhook counts once.
func (p BusPublisher) PublishComment(ctx context.Context, c protocol.GitHubComment) error {
	_, err := p.Conn.Publish(ctx, "balcony.github.comment", fmt.Sprintf("github-comment:%d:%s", c.CommentID, c.Action), c)
	return err
}
