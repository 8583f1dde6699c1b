// Package chatbridge is balcony's IRC bridge: it announces the EVENTS
// stream in the configured channels, one coalesced line per event type
// and commit, and answers status, show, approve, revoke and help by
// asking the nooper's, approver's and applier's services. Its pure rules
// are in pkg/chat.
package chatbridge

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/chat"
)

// Defaults of Options.
const (
	DefaultDurable = "chatbridge"
	// Bucket is the bridge's own KV bucket (streams.yaml): the stream
	// sequences of the events whose line was sent.
	Bucket = "chatbridge"
)

// Options configure a Bridge.
type Options struct {
	Config Config
	Log    zerolog.Logger
	// Registerer takes the bridge's metrics; nil keeps them unexported.
	Registerer prometheus.Registerer
	// Durable names the bridge's consumer on EVENTS (DefaultDurable).
	Durable string
}

// Bridge is a running chat bridge.
type Bridge struct {
	conn *bus.Conn
	opts Options
	log  zerolog.Logger
	m    *collectors
	irc  *link
	cmds chan message
	kv   jetstream.KeyValue
	// subjects caches commit subjects for the lines: sha -> subject.
	subjects *subjectCache
}

// New checks the options and opens the bridge's bucket.
func New(ctx context.Context, conn *bus.Conn, opts Options) (*Bridge, error) {
	if err := opts.Config.validate(); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if opts.Durable == "" {
		opts.Durable = DefaultDurable
	}
	kv, err := conn.JS.KeyValue(ctx, Bucket)
	if err != nil {
		return nil, fmt.Errorf("bucket %s: %w", Bucket, err)
	}
	b := &Bridge{conn: conn, opts: opts, kv: kv, m: newCollectors(opts.Registerer),
		log: opts.Log.With().Str("component", "chatbridge").Logger(), cmds: make(chan message, 16),
		subjects: newSubjectCache(256)}
	if opts.Config.Trust == chat.TrustStatic {
		b.log.Warn().Msg("trust: static: whoever takes a mapped nick speaks for its login; safe only on a network whose services protect nicks (docs/security.md)")
	}
	b.irc = newLink(opts.Config, b.log, b.m, b.receive)
	return b, nil
}

// Run announces and answers until ctx ends. On the way out it sends the
// lines still waiting, records and acknowledges them, and quits IRC.
func (b *Bridge) Run(ctx context.Context) error {
	cons, err := b.consumer(ctx)
	if err != nil {
		return err
	}
	// IRC outlives ctx long enough to flush the last lines.
	ircCtx, stopIRC := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	defer func() { stopIRC(); wg.Wait() }()
	wg.Add(2)
	go func() { defer wg.Done(); b.irc.run(ircCtx) }()
	go func() { defer wg.Done(); b.answer(ircCtx) }()

	msgs := make(chan jetstream.Msg, 64)
	// After the loop, a message still being delivered is left
	// unacknowledged (delivered again next time), not blocked on.
	done := make(chan struct{})
	defer close(done)
	cc, err := cons.Consume(func(m jetstream.Msg) {
		select {
		case msgs <- m:
		case <-done:
		}
	},
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			if !errors.Is(err, jetstream.ErrNoHeartbeat) {
				b.log.Debug().Err(err).Msg("consuming EVENTS")
			}
		}))
	if err != nil {
		return fmt.Errorf("consume EVENTS: %w", err)
	}
	return b.announceLoop(ctx, cc, msgs)
}

// consumer is the bridge's durable consumer on EVENTS. A new one starts
// at the stream's end, not 30 days back; an existing one resumes where
// the bridge stopped.
func (b *Bridge) consumer(ctx context.Context) (jetstream.Consumer, error) {
	cfg := jetstream.ConsumerConfig{
		Durable:       b.opts.Durable,
		Description:   "the chat bridge's announcements",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       ackWait,
		MaxAckPending: maxAckPending,
		FilterSubject: bus.EventPrefix + ">",
		MaxDeliver:    -1,
		DeliverPolicy: jetstream.DeliverNewPolicy,
	}
	cons, err := b.conn.JS.Consumer(ctx, "EVENTS", b.opts.Durable)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		cons, err = b.conn.JS.CreateConsumer(ctx, "EVENTS", cfg)
	}
	if err != nil {
		return nil, fmt.Errorf("consumer %s on EVENTS: %w", b.opts.Durable, err)
	}
	return cons, nil
}

// receive hands a message said to the bridge to the command worker; it
// runs on girc's goroutine, so it never waits.
func (b *Bridge) receive(msg message) {
	select {
	case b.cmds <- msg:
	default:
		b.log.Warn().Str("from", msg.speaker.Nick).Msg("command dropped: too many at once")
	}
}

// subjectCache remembers commits' subjects, a bounded number of them.
type subjectCache struct {
	mu    sync.Mutex
	max   int
	order []string
	m     map[string]string
}

func newSubjectCache(max int) *subjectCache {
	return &subjectCache{max: max, m: map[string]string{}}
}

func (c *subjectCache) get(sha string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.m[sha]
	return s, ok
}

func (c *subjectCache) put(sha, subject string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[sha]; !ok {
		c.order = append(c.order, sha)
		if len(c.order) > c.max {
			delete(c.m, c.order[0])
			c.order = c.order[1:]
		}
	}
	c.m[sha] = subject
}

// timeout bounds each request to another service.
const timeout = 10 * time.Second
