package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/nooper"
	"github.com/balcony-dev/balcony/pkg/protocol"
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
unambiguous prefix. It connects to a running bus: --nats-url, else
$BALCONY_NATS_URL, else nats://127.0.0.1:4222.`,
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
			c, err := load(ctx, conn, args[0], wait)
			if err != nil {
				return err
			}
			doc := c.Document()
			if asJSON {
				data, err := review.JSON(doc)
				if err != nil {
					return err
				}
				_, err = os.Stdout.Write(append(data, '\n'))
				return err
			}
			if c.State != nooper.StateReady {
				fmt.Fprintf(os.Stderr, "noop of %s still collecting\n", args[0])
			}
			fmt.Print(review.Markdown(doc))
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON instead of markdown")
	cmd.Flags().DurationVar(&wait, "wait", 0, "wait up to this long for the noop to exist and be ready")
	return cmd
}

// load reads the noop of rev, waiting up to wait for it to be ready.
func load(ctx context.Context, conn *bus.Conn, rev string, wait time.Duration) (*nooper.Collection, error) {
	deadline := time.Now().Add(wait)
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	said := ""
	for {
		c, err := nooper.Load(ctx, conn.JS, rev)
		if err == nil && c.State == nooper.StateReady || time.Now().After(deadline) {
			return c, err
		}
		if err == nil && wait > 0 {
			// Progress while waiting on hosts, once per change.
			answered, hosts := c.Progress()
			if p := fmt.Sprintf("waiting for the noop of %s: %d of %d hosts answered", protocol.Short(c.Commit.SHA), answered, hosts); p != said {
				fmt.Fprintln(os.Stderr, p)
				said = p
			}
		}
		if err != nil && !errors.Is(err, nooper.ErrUnknownCommit) {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-tick.C:
		}
	}
}
