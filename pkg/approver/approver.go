// Package approver collects sign-off for each commit's delta noop: it maps
// every change group to its owners (CODEOWNERS and node files read at the
// commit's first parent), records approvals from the CLI, GitHub and chat
// bound to the groups as seen, and announces what is still needed, what
// was granted, what lapsed and when a commit is approved. Its state lives
// in the approvals bucket.
package approver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/protocol"
)

// CodeReader reads files of the Puppet repository at a revision.
type CodeReader interface {
	Files(rev string, keep func(path string) bool) (map[string][]byte, error)
	Fetch(ctx context.Context) error
}

// Options configures the approver. Code is required.
type Options struct {
	Code   CodeReader
	Config Config
	// GitHub, when set, gets one review issue per commit with changes
	// and gives approvals from its comments.
	GitHub GitHub
	// GitHubPoll is how often open review issues are read for approvals
	// that a lost webhook did not bring; default 1 minute.
	GitHubPoll time.Duration
	Version    string
	Log        zerolog.Logger
	Now        func() time.Time
	Durable    string // consumer name; default "approver"
}

// Approver is the service. Create it with New, start it with Run.
type Approver struct {
	opts  Options
	conn  *bus.Conn
	store store
	log   zerolog.Logger

	mu    sync.Mutex // serializes read-modify-write of records
	teams map[string]cachedTeam
}

// New checks the options and opens the approvals bucket.
func New(ctx context.Context, conn *bus.Conn, o Options) (*Approver, error) {
	if o.Code == nil {
		return nil, errors.New("approver: a code reader is required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Durable == "" {
		o.Durable = "approver"
	}
	if o.Version == "" {
		o.Version = "0.1.0"
	}
	if o.GitHubPoll == 0 {
		o.GitHubPoll = time.Minute
	}
	kv, err := conn.JS.KeyValue(ctx, "approvals")
	if err != nil {
		return nil, fmt.Errorf("approver: approvals bucket: %w", err)
	}
	return &Approver{
		opts: o, conn: conn, store: store{kv: kv},
		log: o.Log.With().Str("component", "approver").Logger(),
	}, nil
}

// Run evaluates each finished noop and answers approval requests until ctx
// is cancelled.
func (a *Approver) Run(ctx context.Context) error {
	cons, err := a.conn.JS.CreateOrUpdateConsumer(ctx, "EVENTS", jetstream.ConsumerConfig{
		Durable:       a.opts.Durable + "-noops",
		Description:   "approver: finished noops to evaluate",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       time.Minute,
		MaxAckPending: 1,
		FilterSubject: bus.EventPrefix + "noop.ready",
		MaxDeliver:    -1,
	})
	if err != nil {
		return fmt.Errorf("approver: consumer: %w", err)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) { a.onNoopReady(ctx, m) })
	if err != nil {
		return fmt.Errorf("approver: consume: %w", err)
	}
	defer cc.Stop()
	svc, err := a.addService(ctx)
	if err != nil {
		return fmt.Errorf("approver: micro service: %w", err)
	}
	defer svc.Stop() //nolint:errcheck // best effort at shutdown
	if a.opts.GitHub != nil {
		gc, err := a.consumeComments(ctx)
		if err != nil {
			return fmt.Errorf("approver: GitHub comments: %w", err)
		}
		defer gc.Stop()
		go a.pollGitHub(ctx)
	}
	a.log.Info().Msg("approver started")
	<-ctx.Done()
	a.log.Info().Msg("approver stopping")
	return nil
}

// onNoopReady re-evaluates the commit of a noop.ready event.
func (a *Approver) onNoopReady(ctx context.Context, m jetstream.Msg) {
	var ev protocol.Event
	err := json.Unmarshal(m.Data(), &ev)
	if err == nil && ev.Commit == "" {
		err = errors.New("noop.ready event without a commit")
	}
	if err != nil {
		err = fmt.Errorf("%w: %v", bus.ErrMalformed, err)
		a.conn.Reject(ctx, "approver", m.Subject(), err)
		_ = m.TermWithReason(err.Error())
		return
	}
	if _, err := a.update(ctx, ev.Commit, nil); err != nil {
		a.log.Warn().Err(err).Str("commit", ev.Commit).Msg("evaluating approvals; retrying")
		_ = m.NakWithDelay(5 * time.Second)
		return
	}
	_ = m.Ack()
}
