// Command applier is a placeholder for balcony's applier; see --help.
package main

import (
	"errors"
	"os"

	"github.com/spf13/cobra"

	"github.com/balcony-dev/balcony/pkg/version"
)

func main() {
	if err := newRoot().Execute(); err != nil {
		os.Exit(1)
	}
}

// newRoot builds the applier command.
func newRoot() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "applier",
		Short: "Apply the newest fully approved commit, set by set (not built yet)",
		Long: `applier applies the newest commit whose whole range since the last apply is
approved, set by set (canaries, then all), halting when a set fails past its
threshold; its progress lives in the rollout bucket so that it resumes. It is
not built yet: see docs/.`,
		Version:      version.String(),
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return errors.New("applier is not built yet; see --help")
		},
	}
	return cmd
}
