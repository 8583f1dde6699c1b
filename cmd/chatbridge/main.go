// Command chatbridge is balcony's IRC bridge: it announces what balcony
// does in the configured channels and answers status, show, approve and
// revoke.
package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/balcony-dev/balcony/pkg/chatbridge"
	"github.com/balcony-dev/balcony/pkg/credentials"
	"github.com/balcony-dev/balcony/pkg/daemon"
	"github.com/balcony-dev/balcony/pkg/metrics"
	"github.com/balcony-dev/balcony/pkg/version"
)

type options struct {
	bus     daemon.BusFlags
	log     daemon.LogFlags
	metrics metrics.Flags
	config  string
	durable string
}

func main() {
	if err := newRoot().Execute(); err != nil {
		os.Exit(1)
	}
}

func newRoot() *cobra.Command {
	var o options
	root := &cobra.Command{
		Use:   "chatbridge",
		Short: "Announce balcony's events on IRC and answer status, show, approve and revoke",
		Long: `chatbridge joins the IRC channels of --config and announces there, one line
each with the commit's short sha and subject, what balcony does: a noop
started, its progress (at most every progress_every per commit), a noop
ready (change groups, hosts, errors, and where to read the review), approval
needed (naming the owners' nicks), approved, lapsed, withdrawn, an apply
started, a set done, a host failed, an apply halted (with why) and complete.
Events of one type and commit that come within the coalesce window share a
line; per-host runs and rejections are left to the logs and metrics.

It reads balcony.event.> through its durable consumer on EVENTS, which
resumes where it stopped: a line is sent, confirmed by the server (a PING
answered after it), recorded in the chatbridge bucket, and only then are its
events acknowledged. SIGTERM sends the lines still waiting before it exits;
after a crash the events whose line was recorded are not posted again, and a
line sent in the instant before its record is (docs/security.md).

Said to it in a channel ("balcony: status 1a2b3c", or "!status 1a2b3c") or
in private, it answers:
  status <sha|host|rollout>  the stage each is at, and where and why it failed
  show <sha>                 a short summary and where to read the rest
  approve <sha> [group...]   approve as the login mapped to the speaker
  revoke <sha>               withdraw that login's approvals
  help
approve and revoke go through the approver's service under the bridge's
own credentials (role chatbridge), for the login the config maps the speaker
to: trust "account" believes the speaker's services account as the server
vouches for it (IRCv3 account-tag, or extended-join with account-notify);
trust "static" believes the nick, which is safe only where services protect
nicks (docs/security.md).

The config (YAML) is: server (host:port), tls, tls_ca, nick, name,
password_file, sasl_user, sasl_password_file, channels, trust,
people (login: {nick, account}), coalesce, progress_every; see
examples/chatbridge.yaml. The bridge reconnects to IRC by itself.`,
		Version:      version.String(),
		SilenceUsage: true,
		Args:         cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := daemon.SignalContext(cmd.Context())
			defer stop()
			return run(ctx, o, cmd.ErrOrStderr())
		},
	}
	pf := root.PersistentFlags()
	o.bus.Client.Register(pf)
	o.log.Register(pf)
	f := root.Flags()
	o.bus.Needs = credentials.Streams[credentials.ChatBridge]
	o.bus.Server.Register(f, "/var/lib/balcony/chatbridge/nats", daemon.ConnectByDefault)
	o.metrics.Register(f)
	f.StringVar(&o.config, "config", "", "YAML file: the IRC server, channels, trust mode and people (login: nick, account); required")
	f.StringVar(&o.durable, "durable", chatbridge.DefaultDurable, "name of the bridge's durable consumer on EVENTS (the credentials allow "+chatbridge.DefaultDurable+")")
	return root
}

func run(ctx context.Context, o options, stderr io.Writer) error {
	log, err := o.log.Logger(stderr, "chatbridge")
	if err != nil {
		return err
	}
	if o.config == "" {
		return fmt.Errorf("--config is required: the IRC server and channels")
	}
	var cfg chatbridge.Config
	if err := daemon.LoadYAML(o.config, &cfg); err != nil {
		return fmt.Errorf("--config: %w", err)
	}
	reg := metrics.NewRegistry()
	o.bus.Registerer = reg
	endpoint, err := o.metrics.Serve(ctx, reg, log)
	if err != nil {
		return err
	}
	defer endpoint.Close()
	conn, err := o.bus.Connect(ctx, "balcony-chatbridge", log)
	if err != nil {
		return err
	}
	defer conn.Close()
	b, err := chatbridge.New(ctx, conn, chatbridge.Options{Config: cfg, Log: log, Registerer: reg, Durable: o.durable})
	if err != nil {
		return err
	}
	return b.Run(ctx)
}
