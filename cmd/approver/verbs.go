package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/balcony-dev/balcony/pkg/owners"
	"github.com/balcony-dev/balcony/pkg/review"
)

func statusCmd(o *options) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status <revision>",
		Short: "Show each change group's owners, who approved, and what is missing",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, done, ctx, err := client(cmd, o)
			if err != nil {
				return err
			}
			defer done()
			st, err := c.Status(ctx, args[0])
			if err != nil {
				return err
			}
			if asJSON {
				return st.WriteJSON(os.Stdout)
			}
			fmt.Print(review.ApprovalMarkdown(st.View()))
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON (its shape is in docs/approval-json.md)")
	return cmd
}

func approveCmd(o *options) *cobra.Command {
	var as string
	var groups []string
	cmd := &cobra.Command{
		Use:   "approve <revision> --as <identity>",
		Short: "Approve a commit's change groups as they are now (all, or --group)",
		Long: `approve records an approval of the groups of a commit's finished delta noop,
bound to what they are now: if a re-noop changes a group, the approval lapses.
The identity is the sender's login (1 to 39 letters, digits and single hyphens,
neither first nor last, as on GitHub; an enterprise managed user's login_short
too); anything else, such as a NATS wildcard, is refused. Who may send approvals
for whom is up to the NATS permissions on balcony.approver.approve.<identity>
(docs/security.md). The commit's author and co-authors never approve their own
commit: their approval is recorded but does not count.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if as == "" {
				return fmt.Errorf("--as is required: the login approving")
			}
			c, done, ctx, err := client(cmd, o)
			if err != nil {
				return err
			}
			defer done()
			r, err := c.Approve(ctx, args[0], as, owners.SourceCLI, groups)
			if err != nil {
				return err
			}
			fmt.Printf("%s: %s\n", r.Commit[:12], r.Message)
			return nil
		},
	}
	cmd.Flags().StringVar(&as, "as", "", "the login approving")
	cmd.Flags().StringArrayVar(&groups, "group", nil, "approve only this group (repeatable)")
	return cmd
}

func revokeCmd(o *options) *cobra.Command {
	var as string
	cmd := &cobra.Command{
		Use:   "revoke <revision> --as <identity>",
		Short: "Withdraw an identity's approvals of a commit",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if as == "" {
				return fmt.Errorf("--as is required: the login revoking")
			}
			c, done, ctx, err := client(cmd, o)
			if err != nil {
				return err
			}
			defer done()
			r, err := c.Revoke(ctx, args[0], as)
			if err != nil {
				return err
			}
			fmt.Printf("%s: %s\n", r.Commit[:12], r.Message)
			return nil
		},
	}
	cmd.Flags().StringVar(&as, "as", "", "the login revoking")
	return cmd
}
