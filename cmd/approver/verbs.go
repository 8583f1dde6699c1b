package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/balcony-dev/balcony/pkg/approver"
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
				enc := json.NewEncoder(os.Stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(st)
			}
			printStatus(st)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func printStatus(st *approver.StatusReply) {
	verdict := "NOT APPROVED"
	switch {
	case !st.Ready:
		verdict = "waiting for its noop to finish"
	case st.Approved:
		verdict = "APPROVED"
	}
	fmt.Printf("%s %q by %s: %s\n", st.Commit.SHA[:12], st.Commit.Subject, st.Commit.Author, verdict)
	views := map[string]approver.GroupView{}
	for _, g := range st.Groups {
		views[g.ID] = g
	}
	for _, g := range st.Status.Groups {
		v := views[g.ID]
		fmt.Printf("\n  group %s: %s on %s\n", g.ID, v.Resource, review.CompressHosts(v.Hosts))
		fmt.Printf("    owners: %s\n", ownersLine(g.Owners))
		if g.Approved {
			fmt.Printf("    approved by %s (%s)\n", strings.Join(g.ApprovedBy, ", "), strings.Join(g.Via, ", "))
		} else {
			fmt.Printf("    missing: %s\n", g.Missing)
		}
		if len(g.Lapsed) > 0 {
			fmt.Printf("    lapsed: %s (the change is no longer what they approved)\n", strings.Join(g.Lapsed, ", "))
		}
		if len(g.Excluded) > 0 {
			fmt.Printf("    not counted (author or co-author): %s\n", strings.Join(g.Excluded, ", "))
		}
	}
	if len(st.Approvals) > 0 {
		fmt.Println("\n  approvals:")
		for _, ap := range st.Approvals {
			fmt.Printf("    %s via %s at %s (%d groups)\n", ap.By, ap.Source, ap.At.Format("2006-01-02 15:04:05Z"), len(ap.Groups))
		}
	}
	for _, p := range st.Status.Problems {
		fmt.Printf("  problem: %s\n", p)
	}
}

func ownersLine(o owners.GroupOwners) string {
	var parts []string
	add := func(kind string, ow owners.Ownership) {
		if ow.Path == "" {
			return
		}
		who := "nobody"
		if len(ow.Owners) > 0 {
			who = "@" + strings.Join(ow.Owners, ", @")
		}
		parts = append(parts, fmt.Sprintf("%s %s: %s", kind, ow.Path, who))
	}
	add("file", o.File)
	add("module", o.Module)
	for _, n := range o.Nodes {
		add("node file", n.Ownership)
	}
	return strings.Join(parts, "; ")
}

func approveCmd(o *options) *cobra.Command {
	var as string
	var groups []string
	cmd := &cobra.Command{
		Use:   "approve <revision> --as <identity>",
		Short: "Approve a commit's change groups as they are now (all, or --group)",
		Long: `approve records an approval of the groups of a commit's finished delta noop,
bound to what they are now: if a re-noop changes a group, the approval lapses.
The identity is the sender's login; who may send approvals for whom is up to the
NATS permissions on balcony.approver.approve.<identity> (docs/security.md).`,
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
