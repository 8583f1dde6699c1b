// Command nooper runs balcony's noop service, and shows its results.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/balcony-dev/balcony/pkg/daemon"
	"github.com/balcony-dev/balcony/pkg/delta"
	"github.com/balcony-dev/balcony/pkg/gitrepo"
	"github.com/balcony-dev/balcony/pkg/metrics"
	"github.com/balcony-dev/balcony/pkg/nooper"
	"github.com/balcony-dev/balcony/pkg/version"
)

type options struct {
	metrics  metrics.Flags
	bus      daemon.BusFlags
	log      daemon.LogFlags
	nooper   nooper.Options
	ignored  []string
	config   string
	repo     string
	stateDir string
}

func main() {
	if err := newRoot().Execute(); err != nil {
		os.Exit(1)
	}
}

// newRoot builds the nooper command and its verbs.
func newRoot() *cobra.Command {
	var o options
	root := &cobra.Command{
		Use:   "nooper",
		Short: "Noop every new commit on every host and announce its delta",
		Long: `nooper consumes commit events. For each new commit on a configured branch's
first-parent chain it asks every registered host for noops of the commit and
of its first parent (and of the host's last applied revision, whose changes
are drift), reusing reports it already has, asking again hosts that miss a
run's deadline, and publishing progress ("n of N hosts") on
balcony.event.noop.progress. When every host has answered, or the collection
deadline passes, it subtracts the parent's changes from the commit's on each
host, groups identical changes across hosts, stores the result in the noops
bucket and announces it on balcony.event.noop.ready. Hosts that did not answer
are listed, never dropped. A restarted nooper resumes its collections.

A commit event is only a wake-up: the nooper reads the pushed commits, their
parents, authors and messages from its own mirror of --repo (fetched when it
lacks the event's tip), and rejects, with a reason announced on
balcony.event.rejected, an event whose tip the repository does not have or
that is not on the first-parent chain of the event's branch. A report is used
only when it answers a run the nooper asked for, on that host's subject.

Given no --nats-url (nor $BALCONY_NATS_URL) it starts an embedded NATS server
(JetStream, syncing every write) on --listen, that agents, the committer's hook
and the nats CLI connect to; it is the only daemon that embeds the bus by
default.`,
		Version:      version.String(),
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := daemon.SignalContext(cmd.Context())
			defer stop()
			if !cmd.Flags().Changed("branch") {
				o.nooper.Branches = nil // the config's, else main
			}
			return run(ctx, o, cmd.ErrOrStderr())
		},
	}
	// The verbs inherit the client and log flags, not the server's.
	pf := root.PersistentFlags()
	o.bus.Client.Register(pf)
	o.log.Register(pf)
	f := root.Flags()
	o.metrics.Register(f)
	o.bus.Server.Register(f, "/var/lib/balcony/nats", daemon.EmbedByDefault)
	f.StringVar(&o.repo, "repo", "", "the Puppet code repository (URL or path), mirrored to read pushed commits from git rather than from commit events; required")
	f.StringVar(&o.stateDir, "state-dir", "/var/lib/balcony/nooper", "where the repository is mirrored")
	f.StringArrayVar(&o.nooper.Branches, "branch", []string{"main"}, "a branch whose commits are nooped (repeatable)")
	f.DurationVar(&o.nooper.RunTimeout, "run-timeout", 10*time.Minute, "how long a host has to answer a run before it is asked again")
	f.DurationVar(&o.nooper.CollectionTimeout, "collection-timeout", 30*time.Minute, "how long a commit's noop waits for all hosts")
	f.IntVar(&o.nooper.MaxAttempts, "max-attempts", 3, "how often a host is asked for one noop")
	f.StringArrayVar(&o.ignored, "ignore", nil, "Type=title-regexp=purpose: a resource whose changes are known noise (repeatable)")
	f.StringVar(&o.config, "config", "", "YAML file: branches, ignored_resources (type, title regexp, purpose)")
	root.AddCommand(showCmd(&o), renoopCmd(&o), tailCmd(&o), credentialsCmd())
	return root
}

func run(ctx context.Context, o options, stderr io.Writer) error {
	log, err := o.log.Logger(stderr, "nooper")
	if err != nil {
		return err
	}
	if o.repo == "" {
		return fmt.Errorf("--repo is required: the Puppet code repository")
	}
	var cfg nooper.Config
	if err := daemon.LoadYAML(o.config, &cfg); err != nil {
		return fmt.Errorf("--config: %w", err)
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("--config %s: %w", o.config, err)
	}
	if len(o.nooper.Branches) == 0 {
		o.nooper.Branches = cfg.Branches
	}
	o.nooper.Delta = cfg.Delta()
	for _, spec := range o.ignored {
		parts := strings.SplitN(spec, "=", 3)
		if len(parts) != 3 || parts[2] == "" {
			return fmt.Errorf("--ignore %q: want Type=title-regexp=purpose", spec)
		}
		if _, err := regexp.Compile(parts[1]); err != nil {
			return fmt.Errorf("--ignore %q: %w", spec, err)
		}
		o.nooper.Delta.Ignored = append(o.nooper.Delta.Ignored, delta.IgnoredResource{Type: parts[0], Title: parts[1], Purpose: parts[2]})
	}
	mirror, err := gitrepo.Mirror(ctx, o.repo, filepath.Join(o.stateDir, "code.git"))
	if err != nil {
		return fmt.Errorf("mirror %s: %w", o.repo, err)
	}
	defer mirror.Close()
	mirror.SetLog(log)
	for _, fix := range mirror.Repairs() {
		log.Warn().Str("repair", fix).Msg("mirror repaired")
	}
	o.nooper.Code = mirror
	reg := metrics.NewRegistry()
	endpoint, err := o.metrics.Serve(ctx, reg, log)
	if err != nil {
		return err
	}
	defer endpoint.Close()
	o.bus.Registerer = reg
	conn, err := o.bus.Connect(ctx, "balcony-nooper", log)
	if err != nil {
		return err
	}
	defer conn.Close()
	o.nooper.Log, o.nooper.Registerer = log, reg
	o.nooper.Version = version.String()
	n, err := nooper.New(ctx, conn, o.nooper)
	if err != nil {
		return err
	}
	// cobra prints the error, once.
	return n.Run(ctx)
}
