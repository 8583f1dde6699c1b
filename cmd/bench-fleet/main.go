// Command bench-fleet is balcony's fleet load harness (make bench-fleet):
// it measures the goals of issue 16 at each host count, beside raw
// JetStream, and prints them as a table.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/balcony-dev/balcony/pkg/fleetbench"
)

func main() {
	if err := newRoot().Execute(); err != nil {
		os.Exit(1)
	}
}

func newRoot() *cobra.Command {
	var (
		cfg       fleetbench.Config
		hosts     string
		replicas  string
		writeDocs bool
		docsDir   string
		commit    string
		verbose   bool
	)
	root := &cobra.Command{
		Use:   "bench-fleet",
		Short: "Measure balcony at fleet scale with fake hosts answering recorded reports",
		Long: `bench-fleet starts, for each host count, an embedded JetStream server in a
temporary directory (every write synced), a fake fleet answering noops at once
with recorded real Puppet reports, and the real nooper and approver. It measures
commit event → delta ready in steady state, run fan-out and report ingest beside
raw JetStream, delta.Compute's time and memory, the nooper's memory and the
approver's evaluation, and prints the medians as a table. With --replicas 1,3
it also starts a cluster of three embedded servers clustered on loopback ports,
provisions every stream and bucket at 3 replicas, and measures the fan-out and
the ingest, and raw JetStream's, there too (R3 rows): at the smallest host
count only, unless --cluster-all-hosts. A measurement that
exceeds --budget is reported as not finished; the harness never waits longer.
With --write-docs it also writes benchmarks.md and benchmarks-fleet.png into
--docs-dir.`,
		SilenceUsage: true,
		Args:         cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			for _, s := range strings.Split(hosts, ",") {
				n, err := strconv.Atoi(strings.TrimSpace(s))
				if err != nil || n < 1 {
					return fmt.Errorf("--hosts: %q is not a host count", s)
				}
				cfg.Hosts = append(cfg.Hosts, n)
			}
			for _, s := range strings.Split(replicas, ",") {
				n, err := strconv.Atoi(strings.TrimSpace(s))
				if err != nil || n != 1 && n != 3 {
					return fmt.Errorf("--replicas: %q is not 1 or 3", s)
				}
				cfg.Replicas = append(cfg.Replicas, n)
			}
			cfg.Progress = cmd.ErrOrStderr()
			cfg.Log = zerolog.Nop()
			if verbose {
				cfg.Log = zerolog.New(zerolog.ConsoleWriter{Out: cmd.ErrOrStderr()}).With().Timestamp().Logger().Level(zerolog.InfoLevel)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			res, err := fleetbench.Run(ctx, cfg)
			if err != nil {
				return err
			}
			res.Print(cmd.OutOrStdout())
			if writeDocs {
				md, png := filepath.Join(docsDir, "benchmarks.md"), filepath.Join(docsDir, "benchmarks-fleet.png")
				if err := res.WriteDocs(md, png, fleetbench.ThisMachine(commit)); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "wrote %s and %s\n", md, png)
			}
			return nil
		},
	}
	f := root.Flags()
	f.StringVar(&hosts, "hosts", "1000,10000", "host counts to measure, comma-separated")
	f.StringVar(&replicas, "replicas", "1,3", "replica counts measured, comma-separated: 1 (every goal on one server), 3 (fan-out and ingest on a 3-node cluster)")
	f.BoolVar(&cfg.ClusterAllHosts, "cluster-all-hosts", false, "measure R3 at every host count, not only at the smallest")
	f.IntVar(&cfg.Runs, "runs", 3, "runs of each measurement; the table shows the median")
	f.DurationVar(&cfg.Budget, "budget", time.Minute, "time budget of each measurement; past it the figure is reported as not finished")
	f.IntVar(&cfg.Resources, "resources", 500, "resources per host in the delta measurement")
	f.Int64Var(&cfg.MaxMemory, "max-memory", 8<<30, "bytes the delta measurement may allocate, projected from a tenth of the hosts; past it the figure is not measured")
	f.IntVar(&cfg.Groups, "groups", 1000, "change groups of the approver's noop")
	f.StringVar(&cfg.ReportsDir, "reports", "", "directory of the recorded reports (default: pkg/report/testdata of the source tree)")
	f.BoolVar(&writeDocs, "write-docs", false, "write benchmarks.md and benchmarks-fleet.png into --docs-dir")
	f.StringVar(&docsDir, "docs-dir", "docs", "where --write-docs writes")
	f.StringVar(&commit, "commit", "unknown", "the source's commit, for the document")
	f.BoolVarP(&verbose, "verbose", "v", false, "log the services' info messages to stderr")
	return root
}
