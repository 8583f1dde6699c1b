package committer

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/balcony-dev/balcony/pkg/codebus"
	"github.com/balcony-dev/balcony/pkg/gitrepo"
)

// CodePublisher puts a revision's code on the bus (codebus.Publisher):
// sha's objects relative to base, the revision published before it ("" for
// none).
type CodePublisher interface {
	Publish(ctx context.Context, sha, base string) (codebus.Info, error)
}

// CodeOnBus is an Options.Code that publishes into the code object store
// (codebus.Bucket) of js, opened on first use and again after a failure,
// so a committer started before the store was provisioned publishes code
// once it is.
func CodeOnBus(js jetstream.JetStream, opts codebus.PublisherOptions) func(*gitrepo.Repo) CodePublisher {
	return func(r *gitrepo.Repo) CodePublisher { return &lazyCode{js: js, repo: r, opts: opts} }
}

type lazyCode struct {
	js   jetstream.JetStream
	repo *gitrepo.Repo
	opts codebus.PublisherOptions
	mu   sync.Mutex
	pub  *codebus.Publisher
}

func (l *lazyCode) Publish(ctx context.Context, sha, base string) (codebus.Info, error) {
	l.mu.Lock()
	pub := l.pub
	l.mu.Unlock()
	if pub == nil {
		store, err := l.js.ObjectStore(ctx, codebus.Bucket)
		if err != nil {
			return codebus.Info{}, fmt.Errorf("object store %s: %w", codebus.Bucket, err)
		}
		pub = codebus.NewPublisher(store, l.repo, l.opts)
		l.mu.Lock()
		l.pub = pub
		l.mu.Unlock()
	}
	return pub.Publish(ctx, sha, base)
}

// publishCode puts tip's code on the bus before its event, so it is there
// when the event arrives. A failure is logged and counted, never returned:
// the event goes out all the same, and an agent lacking the code takes the
// next full pack or git. The code gets at most half of what is left of
// ctx's deadline, so a slow store never makes the event miss the hook's.
func (c *Committer) publishCode(ctx context.Context, log zerolog.Logger, tip, base string) {
	if c.code == nil {
		return
	}
	if dl, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, time.Now().Add(time.Until(dl)/2))
		defer cancel()
	}
	i, err := c.code.Publish(ctx, tip, base)
	if err != nil {
		c.metrics.codeFailures.WithLabelValues(c.opts.Source).Inc()
		log.Warn().Err(err).Str("base", base).Msg("the revision's code is not on the bus; agents without git take the next full pack")
		return
	}
	c.metrics.codeBytes.WithLabelValues(c.opts.Source).Add(float64(i.Size))
	log.Debug().Str("pack", codebus.ObjectName(i.Kind, i.SHA)).Uint64("bytes", i.Size).Int("objects", i.Objects).Msg("code published")
}
