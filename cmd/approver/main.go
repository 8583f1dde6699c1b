// Command approver is a placeholder for balcony's approver; see --help.
package main

import (
	"errors"
	"os"

	"github.com/spf13/cobra"
)

func main() {
	cmd := &cobra.Command{
		Use:   "approver",
		Short: "Collect sign-off from the owners of every change group (not built yet)",
		Long: `approver maps each change group of a delta noop to its owners through
CODEOWNERS (the file's, its module's and each host's node file's owners) and
collects sign-off from chat, GitHub and the CLI; a commit is approved when
every group is. It is not built yet: see issue 10 and docs/.`,
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return errors.New("approver is not built yet; see --help")
		},
	}
	if err := cmd.Execute(); err != nil {
		os.Exit(1)
	}
}
