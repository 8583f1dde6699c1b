package main

import (
	"github.com/spf13/cobra"

	"github.com/balcony-dev/balcony"
	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/daemon"
	"github.com/balcony-dev/balcony/pkg/tail"
)

func tailCmd(o *options) *cobra.Command {
	var t tail.Options
	cmd := &cobra.Command{
		Use:   "tail <subject>",
		Short: "Print any balcony subject's messages as JSON, live or from a stream position",
		Long: `tail prints the messages of a subject (wildcards * and > allowed) as one JSON
object per line: the stream and its sequence, the subject, the time the stream
stored it, the headers (Nats-Msg-Id, Content-Type, KV-Operation...) and the
payload decoded: commit events, runs, reports and GitHub comments from msgpack
as their protocol types, events as the JSON they are, key-value entries
($KV.<bucket>.<key>) as generic values with their bucket, key and operation,
request subjects as JSON or text. A payload that does not decode is printed as
base64 with an "error" saying why; tail never stops on one.

Subjects in a stream (streams.yaml) are read with an ordered consumer from the
position given, and followed until interrupted (--no-follow stops at the last
message there is). Subjects in no stream (balcony.nooper.show, other service
requests) are read live by a plain subscription, and so is any subject with
--live. It reads what the --nats-creds given may read: a service's, or a
person's, which may follow balcony.event.> with --live (no consumers).`,
		Example: `  # Every run asked of web1, from now on
  nooper tail 'balcony.run.*.web1.example.com'
  # The last 5 reports, pretty, then stop
  nooper tail 'balcony.report.>' --last 5 --no-follow --pretty
  # Events of the last hour, then follow
  nooper tail 'balcony.event.>' --since 1h
  # Commit events from stream sequence 120
  nooper tail 'balcony.commit.>' --from-seq 120
  # The hosts bucket's history, and its payloads only
  nooper tail '$KV.hosts.>' --all --no-follow | jq .payload
  # Events as a person's credentials allow
  nooper tail 'balcony.event.>' --live --nats-creds ~/.config/balcony/kermit.nk
  # Who asks the nooper for reviews (no stream: live only)
  nooper tail balcony.nooper.show`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			decl, err := bus.ParseDeclaration(balcony.StreamsYAML)
			if err != nil {
				return err
			}
			t.Subject, t.Declaration = args[0], decl
			ctx, stop := daemon.SignalContext(cmd.Context())
			defer stop()
			log, err := o.log.Logger(cmd.ErrOrStderr(), "nooper")
			if err != nil {
				return err
			}
			conn, err := o.bus.Client.Connect(ctx, "balcony-nooper-tail", log)
			if err != nil {
				return err
			}
			defer conn.Close()
			return tail.Run(ctx, conn.NC, conn.JS, t, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.Uint64Var(&t.FromSeq, "from-seq", 0, "start at this stream sequence")
	f.DurationVar(&t.Since, "since", 0, "start with the messages stored this long ago (1h, 30m)")
	f.IntVar(&t.Last, "last", 0, "start with the last N messages of the subject")
	f.BoolVar(&t.All, "all", false, "start at the stream's first message")
	f.BoolVar(&t.NoFollow, "no-follow", false, "stop at the last message there is instead of waiting for more")
	f.BoolVar(&t.Live, "live", false, "read a stream's subject by plain subscription: new messages only, without the JetStream rights a consumer needs (what a person's credentials allow on balcony.event.>)")
	f.BoolVar(&t.Pretty, "pretty", false, "indent each object")
	cmd.MarkFlagsMutuallyExclusive("from-seq", "since", "last", "all")
	return cmd
}
