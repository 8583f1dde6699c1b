package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/balcony-dev/balcony/pkg/applier"
)

// client connects to the bus for one CLI command.
func client(cmd *cobra.Command, o *options) (applier.Client, func(), context.Context, error) {
	ctx, cancel := context.WithTimeout(cmd.Context(), 2*time.Minute)
	log, err := o.log.Logger(cmd.ErrOrStderr(), "applier")
	if err != nil {
		cancel()
		return applier.Client{}, nil, nil, err
	}
	conn, err := o.bus.Client.Connect(ctx, "balcony-applier-cli", log)
	if err != nil {
		cancel()
		return applier.Client{}, nil, nil, err
	}
	return applier.Client{NC: conn.NC}, func() { conn.Close(); cancel() }, ctx, nil
}

func statusCmd(o *options) *cobra.Command {
	return showCmd(o, "status", "Show the rollout: its target, each set's hosts by state, why it halted or waits",
		func(ctx context.Context, c applier.Client) (any, string, error) {
			st, err := c.Status(ctx)
			if err != nil {
				return nil, "", err
			}
			return st, applier.StatusText(st), nil
		})
}

func planCmd(o *options) *cobra.Command {
	return showCmd(o, "plan", "Show what would be applied now, where and in which order, without doing it",
		func(ctx context.Context, c applier.Client) (any, string, error) {
			p, err := c.Plan(ctx)
			if err != nil {
				return nil, "", err
			}
			return p, applier.PlanText(p), nil
		})
}

// showCmd is a verb that reads something and prints it, as text or, with
// --json, as JSON.
func showCmd(o *options, use, short string, get func(context.Context, applier.Client) (any, string, error)) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use: use, Short: short, Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, done, ctx, err := client(cmd, o)
			if err != nil {
				return err
			}
			defer done()
			v, text, err := get(ctx, c)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(os.Stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(v)
			}
			fmt.Print(text)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// do runs verb as --as and prints the reply.
func do(cmd *cobra.Command, o *options, verb, as string, req applier.VerbRequest) error {
	if as == "" {
		return fmt.Errorf("--as is required: the login speaking")
	}
	c, done, ctx, err := client(cmd, o)
	if err != nil {
		return err
	}
	defer done()
	r, err := c.Do(ctx, verb, as, req)
	if err != nil {
		return err
	}
	fmt.Println(r.Message)
	return nil
}

func verbCmd(o *options, verb, short string) *cobra.Command {
	var as string
	cmd := &cobra.Command{
		Use: verb + " --as <identity>", Short: short, Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return do(cmd, o, verb, as, applier.VerbRequest{}) },
	}
	cmd.Flags().StringVar(&as, "as", "", "the login speaking (NATS permissions decide who may)")
	return cmd
}

func haltCmd(o *options) *cobra.Command {
	var as, reason string
	cmd := &cobra.Command{
		Use: "halt --as <identity> [--reason text]", Short: "Halt the rollout: nothing new starts; running hosts finish", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return do(cmd, o, "halt", as, applier.VerbRequest{Reason: reason})
		},
	}
	cmd.Flags().StringVar(&as, "as", "", "the login speaking")
	cmd.Flags().StringVar(&reason, "reason", "", "why, for the status and the event")
	return cmd
}

func promoteCmd(o *options) *cobra.Command {
	var as string
	cmd := &cobra.Command{
		Use:   "promote [set] --as <identity>",
		Short: "Open the gate the rollout waits at after a set (promote, or a soak before its time)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var set string
			if len(args) == 1 {
				set = args[0]
			}
			return do(cmd, o, "promote", as, applier.VerbRequest{Set: set})
		},
	}
	cmd.Flags().StringVar(&as, "as", "", "the login speaking")
	return cmd
}

func lockCmd(o *options) *cobra.Command {
	var as, reason string
	cmd := &cobra.Command{
		Use: "lock <host> --reason text --as <identity>", Short: "Keep every rollout off a host until it is unlocked", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if strings.TrimSpace(reason) == "" {
				return fmt.Errorf("--reason is required: why the host is locked")
			}
			return do(cmd, o, "lock", as, applier.VerbRequest{Host: args[0], Reason: reason})
		},
	}
	cmd.Flags().StringVar(&as, "as", "", "the login speaking")
	cmd.Flags().StringVar(&reason, "reason", "", "why")
	return cmd
}

func unlockCmd(o *options) *cobra.Command {
	var as string
	cmd := &cobra.Command{
		Use: "unlock <host> --as <identity>", Short: "Let rollouts apply a locked host again", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return do(cmd, o, "unlock", as, applier.VerbRequest{Host: args[0]})
		},
	}
	cmd.Flags().StringVar(&as, "as", "", "the login speaking")
	return cmd
}

func baselineCmd(o *options) *cobra.Command {
	var as string
	cmd := &cobra.Command{
		Use:   "baseline <revision> [host…] --as <identity>",
		Short: "Record the revision hosts have applied (every host with none, when no host is named)",
		Long: `baseline records revision (on the branch's first-parent chain) as the last
applied revision of the hosts named, or of every host that has none. It
changes nothing on the hosts: it says what they run. Their noop of that
revision is their drift, and the next rollout applies the commits after it.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return do(cmd, o, "baseline", as, applier.VerbRequest{Revision: args[0], Hosts: args[1:]})
		},
	}
	cmd.Flags().StringVar(&as, "as", "", "the login speaking")
	return cmd
}
