package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/balcony-dev/balcony/pkg/nooper"
	"github.com/balcony-dev/balcony/pkg/review"
)

func showCmd(o *options) *cobra.Command {
	var asJSON bool
	var wait time.Duration
	cmd := &cobra.Command{
		Use:   "show <revision>",
		Short: "Print the review document of a commit's delta noop",
		Long: `show prints the delta noop of a commit as markdown: each group of identical
changes with its resource, diff, define type, source file and line and hosts;
errors per host; withdrawn changes; drift; hosts that did not answer. --json
prints the same data (docs/review-json.md). The revision is a full sha or an
unambiguous prefix. It asks the running nooper (balcony.nooper.show) over the
bus: --nats-url, else $BALCONY_NATS_URL, else nats://127.0.0.1:4222. With
--wait it waits for the noop to be ready, saying how many hosts have answered
as they do, and which are missing once few are.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second+wait)
			defer cancel()
			log, err := o.log.Logger(cmd.ErrOrStderr(), "nooper")
			if err != nil {
				return err
			}
			conn, err := o.bus.Client.Connect(ctx, "balcony-nooper-show", log)
			if err != nil {
				return err
			}
			defer conn.Close()
			doc, data, err := nooper.Client{NC: conn.NC}.Wait(ctx, args[0], wait, 500*time.Millisecond, func(p *review.Progress) {
				if p == nil {
					fmt.Fprintf(cmd.ErrOrStderr(), "waiting for the noop of %s to start\n", args[0])
					return
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "waiting for the noop of %s: %s\n", args[0], p)
			})
			if err != nil {
				return err
			}
			if asJSON {
				_, err = cmd.OutOrStdout().Write(data)
				return err
			}
			if !doc.Complete {
				fmt.Fprintf(cmd.ErrOrStderr(), "noop of %s still collecting\n", args[0])
			}
			fmt.Fprint(cmd.OutOrStdout(), review.Markdown(doc))
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON instead of markdown")
	cmd.Flags().DurationVar(&wait, "wait", 0, "wait up to this long for the noop to exist and be ready")
	return cmd
}
