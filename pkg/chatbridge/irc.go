package chatbridge

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/lrstanley/girc"
	"github.com/nats-io/nuid"
	"github.com/rs/zerolog"

	"github.com/balcony-dev/balcony/pkg/chat"
)

// errOffline: the bridge is not connected and in all its channels.
var errOffline = errors.New("not connected to IRC and joined")

// confirmTimeout bounds the wait for the server's answer to the PING that
// follows a line.
const confirmTimeout = 30 * time.Second

// message is a PRIVMSG to the bridge, handed to the command worker.
type message struct {
	speaker chat.Speaker
	replyTo string
	text    string
	private bool
	nick    string // the bridge's own nick when it came
}

// link owns the IRC connection: it connects, joins, reconnects with a
// growing pause, and sends lines once they are confirmed to have reached
// the server.
type link struct {
	cfg      Config
	log      zerolog.Logger
	m        *collectors
	incoming func(message)

	mu     sync.Mutex
	client *girc.Client // nil while down
	joined map[string]bool
	ready  chan struct{} // closed when the client is in every channel
	down   chan struct{} // closed when the current connection ends
	pongs  map[string]chan struct{}
}

func newLink(cfg Config, log zerolog.Logger, m *collectors, incoming func(message)) *link {
	return &link{cfg: cfg, log: log, m: m, incoming: incoming,
		ready: make(chan struct{}), down: make(chan struct{}), pongs: map[string]chan struct{}{}}
}

// run connects until ctx ends, reconnecting after each loss with a pause
// from a second doubling to a minute (reset by a connection that lasted).
func (l *link) run(ctx context.Context) {
	pause := time.Second
	for first := true; ; first = false {
		if !first {
			l.m.reconnects.Inc()
		}
		started := time.Now()
		err := l.session(ctx)
		if ctx.Err() != nil {
			return
		}
		if time.Since(started) > 5*time.Minute {
			pause = time.Second
		}
		l.log.Warn().Err(err).Float64("retry_in_seconds", pause.Seconds()).Msg("IRC connection lost")
		select {
		case <-ctx.Done():
			return
		case <-time.After(pause):
		}
		pause = min(2*pause, time.Minute)
	}
}

// session is one connection, from dial to loss.
func (l *link) session(ctx context.Context) error {
	cl, err := l.newClient()
	if err != nil {
		return err
	}
	l.mu.Lock()
	l.client, l.joined = cl, map[string]bool{}
	down := l.down
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		l.client = nil
		close(down)
		l.down = make(chan struct{})
		select {
		case <-l.ready:
			l.ready = make(chan struct{})
		default:
		}
		for id, ch := range l.pongs {
			close(ch)
			delete(l.pongs, id)
		}
		l.mu.Unlock()
	}()
	stop := context.AfterFunc(ctx, func() {
		cl.Quit("balcony chat bridge stopping")
		cl.Close()
	})
	defer stop()
	cl.Handlers.Add(girc.CONNECTED, func(c *girc.Client, _ girc.Event) {
		if ctx.Err() != nil {
			c.Close() // stopped while connecting: AfterFunc's Close came too early
			return
		}
		l.log.Info().Str("server", l.cfg.Server).Str("nick", c.GetNick()).Msg("connected to IRC")
		for _, ch := range l.cfg.Channels {
			name, key, _ := strings.Cut(ch, " ")
			if key != "" {
				c.Cmd.JoinKey(name, key)
			} else {
				c.Cmd.Join(name)
			}
		}
	})
	cl.Handlers.Add(girc.JOIN, func(c *girc.Client, e girc.Event) {
		if e.Source == nil || len(e.Params) == 0 || chat.FoldNick(e.Source.Name) != chat.FoldNick(c.GetNick()) {
			return
		}
		l.joinedChannel(e.Params[0])
	})
	cl.Handlers.Add(girc.PONG, func(_ *girc.Client, e girc.Event) {
		l.mu.Lock()
		if ch, ok := l.pongs[e.Last()]; ok {
			close(ch)
			delete(l.pongs, e.Last())
		}
		l.mu.Unlock()
	})
	cl.Handlers.Add(girc.PRIVMSG, func(c *girc.Client, e girc.Event) {
		if e.Source == nil || e.Echo || len(e.Params) == 0 || e.IsAction() {
			return
		}
		msg := message{speaker: speaker(c, e), text: e.Last(), nick: c.GetNick()}
		if e.IsFromChannel() {
			msg.replyTo = e.Params[0]
		} else {
			msg.replyTo, msg.private = e.Source.Name, true
		}
		l.incoming(msg)
	})
	return cl.Connect()
}

// joinedChannel records a join and opens ready once every channel is in.
func (l *link) joinedChannel(name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.joined[chat.FoldNick(name)] = true
	for _, ch := range l.cfg.Channels {
		if !l.joined[chat.FoldNick(channelName(ch))] {
			return
		}
	}
	select {
	case <-l.ready:
	default:
		l.log.Info().Strs("channels", l.cfg.Channels).Msg("joined")
		close(l.ready)
	}
}

// Ready is closed once the bridge is connected and in every channel.
func (l *link) Ready() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ready
}

// announce sends each line to every channel and returns once the server
// has answered a PING sent after them: it read them all (an IRC server
// handles a client's lines in order). An error means some may not have
// reached it.
func (l *link) announce(ctx context.Context, lines []string) error {
	var targets []string
	for _, ch := range l.cfg.Channels {
		targets = append(targets, channelName(ch))
	}
	return l.send(ctx, targets, lines, true)
}

// reply sends lines to target without waiting for the server.
func (l *link) reply(ctx context.Context, target string, lines ...string) error {
	return l.send(ctx, []string{target}, lines, false)
}

func (l *link) send(ctx context.Context, targets, lines []string, confirm bool) error {
	l.mu.Lock()
	cl, down := l.client, l.down
	select {
	case <-l.ready:
	default:
		cl = nil
	}
	var pong chan struct{}
	token := nuid.Next()
	if cl != nil && confirm {
		pong = make(chan struct{})
		l.pongs[token] = pong
	}
	l.mu.Unlock()
	if cl == nil {
		return errOffline
	}
	for _, line := range lines {
		for _, t := range targets {
			cl.Cmd.Message(t, line)
			l.m.lines.Inc()
		}
	}
	if !confirm {
		return nil
	}
	cl.Cmd.Ping(token)
	timer := time.NewTimer(confirmTimeout)
	defer timer.Stop()
	select {
	case <-pong:
		select {
		case <-down: // closed by the end of the session, not by a PONG
			return errOffline
		default:
			return nil
		}
	case <-down:
		return errOffline
	case <-timer.C:
		l.mu.Lock()
		delete(l.pongs, token)
		l.mu.Unlock()
		return fmt.Errorf("no PONG from %s within %s", l.cfg.Server, confirmTimeout)
	case <-ctx.Done():
		l.mu.Lock()
		delete(l.pongs, token)
		l.mu.Unlock()
		return ctx.Err()
	}
}

// speaker is who sent e, with the account the server vouches for: the
// account tag when the server offers account-tag, else the account
// girc tracks when the server offers both extended-join and
// account-notify (so that tracking never goes stale); otherwise unknown.
func speaker(c *girc.Client, e girc.Event) chat.Speaker {
	s := chat.Speaker{Nick: e.Source.Name}
	switch {
	case c.HasCapability("account-tag"):
		s.AccountKnown = true
		if a, ok := e.Tags.Get("account"); ok {
			s.Account = a
		}
	case c.HasCapability("extended-join") && c.HasCapability("account-notify"):
		if u := c.LookupUser(e.Source.Name); u != nil {
			s.AccountKnown = true
			s.Account = u.Extras.Account
		}
	}
	return s
}

// newClient builds a girc client from the configuration.
func (l *link) newClient() (*girc.Client, error) {
	host, port := l.cfg.hostPort()
	pass, err := secret(l.cfg.PasswordFile)
	if err != nil {
		return nil, fmt.Errorf("password_file: %w", err)
	}
	gc := girc.Config{
		Server: host, Port: port, ServerPass: pass,
		Nick: l.cfg.Nick, User: l.cfg.Nick, Name: l.cfg.Name,
		SSL:         l.cfg.TLS,
		PingDelay:   time.Minute,
		RecoverFunc: func(_ *girc.Client, e *girc.HandlerError) { l.log.Error().Str("panic", e.Error()).Msg("IRC handler") },
	}
	if l.cfg.SASLUser != "" {
		sp, err := secret(l.cfg.SASLPasswordFile)
		if err != nil {
			return nil, fmt.Errorf("sasl_password_file: %w", err)
		}
		gc.SASL = &girc.SASLPlain{User: l.cfg.SASLUser, Pass: sp}
	}
	if l.cfg.TLS {
		tc := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
		if l.cfg.TLSCA != "" {
			pem, err := os.ReadFile(l.cfg.TLSCA)
			if err != nil {
				return nil, fmt.Errorf("tls_ca: %w", err)
			}
			tc.RootCAs = x509.NewCertPool()
			if !tc.RootCAs.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("tls_ca %s: no certificate", l.cfg.TLSCA)
			}
		}
		gc.TLSConfig = tc
	}
	return girc.New(gc), nil
}
