package chatbridge

import (
	"context"
	"errors"
	"fmt"

	"github.com/balcony-dev/balcony/pkg/applier"
	"github.com/balcony-dev/balcony/pkg/approver"
	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/chat"
	"github.com/balcony-dev/balcony/pkg/nooper"
	"github.com/balcony-dev/balcony/pkg/protocol"
)

// answer handles the messages said to the bridge, one at a time, until
// ctx ends.
func (b *Bridge) answer(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case msg := <-b.cmds:
			verb, outcome, text := b.handle(ctx, msg)
			if outcome == "" {
				continue // not for us
			}
			b.m.commands.WithLabelValues(verb, outcome).Inc()
			if !msg.private {
				text = msg.speaker.Nick + ": " + text
			}
			if err := b.irc.reply(ctx, msg.replyTo, chat.Clip(text)); err != nil {
				b.log.Warn().Err(err).Str("to", msg.replyTo).Msg("answer not sent")
			}
		}
	}
}

// handle answers one message: the verb, the outcome (ok, refused, failed,
// usage; "" when the message was not for the bridge) and the answer.
func (b *Bridge) handle(ctx context.Context, msg message) (verb, outcome, text string) {
	cmd, err := chat.Parse(msg.text, msg.nick, msg.private)
	switch {
	case errors.Is(err, chat.ErrNotForUs):
		return "", "", ""
	case err != nil:
		return "unknown", "usage", err.Error()
	}
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	switch cmd.Verb {
	case chat.VerbHelp:
		return cmd.Verb, "ok", chat.Help + trustNote(b.opts.Config.Trust)
	case chat.VerbStatus:
		text, err = b.status(rctx, cmd.Target)
	case chat.VerbShow:
		text, err = b.show(rctx, cmd.Target)
	case chat.VerbApprove, chat.VerbRevoke:
		login, terr := b.opts.Config.People.Login(b.opts.Config.Trust, msg.speaker)
		if terr != nil {
			b.log.Info().Str("nick", msg.speaker.Nick).Str("account", msg.speaker.Account).Str("verb", cmd.Verb).Err(terr).Msg("refused")
			return cmd.Verb, "refused", "refused: " + terr.Error()
		}
		b.log.Info().Str("nick", msg.speaker.Nick).Str("login", login).Str("verb", cmd.Verb).Str("revision", cmd.Target).Msg("speaking for a login")
		text, err = b.change(rctx, cmd, login)
	}
	if err != nil {
		return cmd.Verb, "failed", err.Error()
	}
	return cmd.Verb, "ok", text
}

// trustNote says, in help, how far the bridge believes nicks.
func trustNote(mode string) string {
	if mode == chat.TrustStatic {
		return " · trust: static nick map (any holder of a mapped nick approves as its login)"
	}
	return " · trust: services accounts"
}

// change approves or revokes as login, through the approver's service.
func (b *Bridge) change(ctx context.Context, cmd chat.Command, login string) (string, error) {
	c := approver.Client{NC: b.conn.NC}
	var r *approver.ChangeReply
	var err error
	if cmd.Verb == chat.VerbApprove {
		r, err = c.Approve(ctx, cmd.Target, login, "chat", cmd.Groups)
	} else {
		r, err = c.Revoke(ctx, cmd.Target, login)
	}
	if err != nil {
		return "", fmt.Errorf("%s as %s: %w", cmd.Verb, login, err)
	}
	state := "not yet approved"
	if r.Approved {
		state = "approved"
	}
	text := fmt.Sprintf("%s as %s: %s is %s", cmd.Verb, login, protocol.Short(r.Commit), state)
	if r.Message != "" {
		text += ": " + r.Message
	}
	return text, nil
}

// show summarizes a commit's noop and says where to read the rest.
func (b *Bridge) show(ctx context.Context, rev string) (string, error) {
	doc, _, err := nooper.Client{NC: b.conn.NC}.Show(ctx, rev)
	if err != nil {
		return "", err
	}
	return showLine(doc), nil
}

// status answers status <sha|host|rollout>: a revision first (a host's
// name may look like hex), then the rollout, then a host.
func (b *Bridge) status(ctx context.Context, target string) (string, error) {
	if chat.Revision(target) {
		line, err := b.commitStatus(ctx, target)
		if !errors.Is(err, nooper.ErrUnknownCommit) {
			return line, err
		}
		if bus.ValidHost(target) != nil {
			return line, err
		}
	}
	st, err := b.applierStatus(ctx)
	if err != nil {
		return "", err
	}
	if target == "rollout" || (st.Rollout != nil && target == st.Rollout.ID) {
		return rolloutLine(st), nil
	}
	if err := bus.ValidHost(target); err != nil {
		return "", fmt.Errorf("%s is no revision, host or rollout", target)
	}
	return hostLine(st, target), nil
}

// commitStatus is a commit's stage across noop, approval and apply.
func (b *Bridge) commitStatus(ctx context.Context, rev string) (string, error) {
	doc, _, err := nooper.Client{NC: b.conn.NC}.Show(ctx, rev)
	if err != nil {
		return "", err
	}
	var ap *approver.StatusReply
	if doc.Complete {
		ap, err = approver.Client{NC: b.conn.NC}.Status(ctx, doc.Commit.SHA)
		if err != nil && !errors.Is(err, approver.ErrNoRecord) {
			return "", err
		}
	}
	var st *applier.StatusReply
	if ap != nil && ap.Approved {
		if st, err = b.applierStatus(ctx); err != nil {
			// The noop and approval stages still answer.
			b.log.Debug().Err(err).Msg("applier status")
			st = nil
		}
	}
	return commitLine(doc, ap, st), nil
}

func (b *Bridge) applierStatus(ctx context.Context) (*applier.StatusReply, error) {
	var st applier.StatusReply
	if err := bus.CallJSON(ctx, b.conn.NC, "applier", applier.StatusSubject, applier.VerbRequest{}, &st); err != nil {
		return nil, err
	}
	return &st, nil
}
