package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/balcony-dev/balcony/pkg/nooper"
)

func renoopCmd(o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "renoop <revision>",
		Short: "Noop a commit again on every host",
		Long: `renoop asks the running nooper to noop a commit and its first parent again on
every host, for instance after a host's state changed by hand. The previous
result stays visible until the new one is ready; approvals of groups whose
content changes lapse, the others are kept.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			log, err := o.log.Logger(cmd.ErrOrStderr(), "nooper")
			if err != nil {
				return err
			}
			conn, err := o.bus.Client.Connect(ctx, "balcony-nooper-renoop", log)
			if err != nil {
				return err
			}
			defer conn.Close()
			sha, err := nooper.Client{NC: conn.NC}.Renoop(ctx, args[0])
			if err != nil {
				return err
			}
			fmt.Printf("re-nooping %s\n", sha)
			return nil
		},
	}
}
