// Command applier applies the newest fully approved commit, set by set,
// and is the CLI to watch and steer it.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/balcony-dev/balcony/pkg/applier"
	"github.com/balcony-dev/balcony/pkg/credentials"
	"github.com/balcony-dev/balcony/pkg/daemon"
	"github.com/balcony-dev/balcony/pkg/gitrepo"
	"github.com/balcony-dev/balcony/pkg/metrics"
	"github.com/balcony-dev/balcony/pkg/version"
)

type options struct {
	metrics    metrics.Flags
	bus        daemon.BusFlags
	log        daemon.LogFlags
	repo       string
	branch     string
	stateDir   string
	config     string
	runTimeout time.Duration
	poll       time.Duration
}

func main() {
	if err := newRoot().Execute(); err != nil {
		os.Exit(1)
	}
}

// newRoot builds the applier command and its verbs.
func newRoot() *cobra.Command {
	var o options
	root := &cobra.Command{
		Use:   "applier --repo URL [flags]",
		Short: "Apply the newest fully approved commit, set by set",
		Long: `applier applies the newest commit on --branch's first-parent chain such that
every commit after each host's last applied revision up to it is approved
(read from the approver's status service; the chain from its own mirror of
--repo). A host with no last applied revision is not applied until one is
recorded with 'applier baseline'.

It applies the apply sets of --config in order (canaries first, then the
rest), each in batches, under a fleet-wide concurrency cap, halting when a
set's failures exceed its max_failures or all sets' failures exceed the
failure budget, and waiting for 'applier promote' or a soak time where a set
says so (docs/rollout.md). A locked host ('applier lock') or one whose own
Puppet is disabled is skipped, and says why.

Each host applies through its agent, which confirms the approvals itself
and runs a real 'puppet apply'. Its report is reconciled with the host's own
noop of the target: a change nobody reviewed, or a failure, fails the host
and is named in the halt reason; approved changes that did not happen are
listed. The host's last applied revision is recorded (compare-and-set) in
its record in the hosts bucket.

The rollout lives in the rollout bucket, rewritten after every change and
before every run is sent: a restarted applier resumes it, and asks a host
again only with the same run id, so no host applies twice. It announces
balcony.event.apply.* (started, set.started, host.done, host.failed,
host.skipped, set.done, promoted, halted, resumed, cancelled, complete) and
answers its verbs on the NATS micro-service API (balcony.applier.*).`,
		Example: `  applier --nats-url nats://bus:4222 --repo https://git.example.com/puppet.git --config /etc/balcony/applier.yaml
  applier status
  applier promote --as gonzo
  applier lock db1.example.com --reason "migration running" --as gonzo`,
		Version:      version.String(),
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := daemon.SignalContext(cmd.Context())
			defer stop()
			return run(ctx, o, cmd.ErrOrStderr())
		},
	}
	pf := root.PersistentFlags()
	o.bus.Client.Register(pf)
	o.log.Register(pf)
	f := root.Flags()
	o.metrics.Register(f)
	o.bus.Needs = credentials.Streams[credentials.Applier]
	o.bus.Server.Register(f, "/var/lib/balcony/applier/nats", daemon.ConnectByDefault)
	f.StringVar(&o.repo, "repo", "", "the Puppet code repository (URL or path), to read the branch's first-parent chain; required")
	f.StringVar(&o.branch, "branch", "main", "the branch applied")
	f.StringVar(&o.stateDir, "state-dir", "/var/lib/balcony/applier", "where the repository is mirrored")
	f.StringVar(&o.config, "config", "", "YAML file: apply_sets, concurrency, failure_budget (docs/rollout.md), ignored_resources (as the nooper's); default: canaries (auto cover, promote), then all")
	f.DurationVar(&o.runTimeout, "run-timeout", 30*time.Minute, "how long a host has to answer an apply before it counts as failed")
	f.DurationVar(&o.poll, "poll", 30*time.Second, "how often to look for a newer approved commit when no rollout runs")
	root.AddCommand(statusCmd(&o), planCmd(&o), haltCmd(&o), verbCmd(&o, "resume", "Resume a halted rollout: failed hosts stay failed and stop counting; skipped hosts are tried again"),
		promoteCmd(&o), verbCmd(&o, "cancel", "End the rollout: running hosts finish; the next approved commit starts a new rollout"),
		lockCmd(&o), unlockCmd(&o), baselineCmd(&o))
	return root
}

func run(ctx context.Context, o options, stderr io.Writer) error {
	log, err := o.log.Logger(stderr, "applier")
	if err != nil {
		return err
	}
	if o.repo == "" {
		return fmt.Errorf("--repo is required: the Puppet code repository")
	}
	var cfg applier.Config
	if err := daemon.LoadYAML(o.config, &cfg); err != nil {
		return fmt.Errorf("--config: %w", err)
	}
	mirror, err := gitrepo.Mirror(ctx, o.repo, filepath.Join(o.stateDir, "code.git"))
	if err != nil {
		return fmt.Errorf("mirror %s: %w", o.repo, err)
	}
	defer mirror.Close()
	mirror.SetLog(log)
	reg := metrics.NewRegistry()
	endpoint, err := o.metrics.Serve(ctx, reg, log)
	if err != nil {
		return err
	}
	defer endpoint.Close()
	o.bus.Registerer = reg
	conn, err := o.bus.Connect(ctx, "balcony-applier", log)
	if err != nil {
		return err
	}
	defer conn.Close()
	a, err := applier.New(ctx, conn, applier.Options{
		Code: mirror, Branch: o.branch, Config: cfg, RunTimeout: o.runTimeout, Poll: o.poll,
		Log: log, Version: version.String(), Registerer: reg,
	})
	if err != nil {
		return err
	}
	// cobra prints the error, once.
	return a.Run(ctx)
}
