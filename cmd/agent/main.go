// Command agent is balcony's per-host daemon: it receives the noops and
// applies asked of its host over NATS, runs real Puppet on a clean checkout
// of the requested revision and publishes the parsed report. It verifies an
// apply itself before it runs it.
package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/balcony-dev/balcony/pkg/agent"
	"github.com/balcony-dev/balcony/pkg/approver"
	"github.com/balcony-dev/balcony/pkg/codebus"
	"github.com/balcony-dev/balcony/pkg/credentials"
	"github.com/balcony-dev/balcony/pkg/daemon"
	"github.com/balcony-dev/balcony/pkg/gitrepo"
	"github.com/balcony-dev/balcony/pkg/metrics"
	"github.com/balcony-dev/balcony/pkg/puppet"
	"github.com/balcony-dev/balcony/pkg/version"
)

type options struct {
	metrics    metrics.Flags
	bus        daemon.BusFlags
	log        daemon.LogFlags
	host       string
	stateDir   string
	repo       string
	code       string
	keep       int
	puppet     puppet.Options
	facts      []string
	root       string
	heartbeat  time.Duration
	fetchEvery time.Duration
	// disabledLock is `puppet agent --disable`'s lock file.
	disabledLock string
}

func main() {
	if err := newRoot().Execute(); err != nil {
		os.Exit(1)
	}
}

// newRoot builds the agent command.
func newRoot() *cobra.Command {
	var o options
	cmd := &cobra.Command{
		Use:   "agent (--repo URL | --code bus) [flags]",
		Short: "Run Puppet noops and approved applies for balcony on this host",
		Long: `agent runs on every node. It subscribes to balcony.run.*.<host>, catches up
on runs it missed from the RUNS stream after a start or a reconnect, and runs
them one at a time, checking the requested revision out of its mirror of the
code repository into a clean directory.

A noop compiles the catalog there ('puppet catalog compile'), sets noop on
every resource of it (noop => false cannot beat a review) and applies that
catalog with 'puppet apply --noop' (never through a shell, with its own
vardir, no report submitted, storeconfigs off, a timeout), then publishes the
parsed report on balcony.report.noop.<host>. It waits while the puppet
agent's run lock (--puppet-lock) names a live process.

An apply (from the applier) is first checked by the agent itself, and runs
only if all of this holds:
  - Puppet is not disabled (--puppet-disabled-lock, written by 'puppet agent
    --disable') nor running (--puppet-lock): else it is skipped, with why;
  - it starts from the host's last applied revision as its record in the
    'hosts' bucket says (none recorded: refused until 'applier baseline'),
    and its commits are the first-parent chain from there to the revision in
    the agent's own mirror (fetched once when a commit is unknown);
  - the approver (balcony.approver.status) says every commit of the range is
    approved, for exactly the change groups and digests the apply carries.
Otherwise it is refused, with why, and balcony.event.run.refused.<host>
announces it. A verified apply runs 'puppet apply --no-noop' on the checkout
(no review-time catalog rewrite) and its report is published on
balcony.report.apply.<host>. The agent never records what was applied: the
applier does, from the report.

The code comes from --repo, a git repository the agent mirrors (fetched at
start, on every commit event and when a run names a revision it lacks), or,
with --code bus, from the bus alone: the committer puts each pushed
revision's code in the 'code' object store, and the agent brings it into a
local repository at start (the newest revisions published) and on every
commit event, before any run asks for it. Each pack is verified against the
commit it claims (every tree and file hashing to its id) before it is kept;
code that does not verify is refused, and a run of that revision fails with
why. With --code bus, --repo is optional: when given, it is fetched only for
revisions the bus has no code for. See docs/code-over-bus.md.

A compile error, a timeout or an unknown revision is a failed report, never a
crash. An agent that starts ends first what Puppet an earlier agent, killed
with kill -9, left running (recorded under --state-dir). Its host record in
the 'hosts' bucket is refreshed every heartbeat, with compare-and-set (the
applier's fields are kept), and says whether Puppet is disabled.

Several agents can run on one machine (tests, the demo) with their own --host,
--state-dir and --root (which sets the balcony_root fact and removes that
directory from reported paths, so identical changes group across them).
--fact name=value sets any other fact as FACTER_name.

Puppet is given the manifest and the modulepath the checkout's
environment.conf names, as Puppet reads it for an environment (relative
paths inside the checkout; $basemodulepath is passed on for Puppet to
interpolate); without one, manifests and modules. --manifest and
--modulepath override it.`,
		Example: `  agent --nats-url nats://bus:4222 --repo https://git.example.com/puppet.git
  agent --nats-url nats://bus:4222 --code bus
  agent --nats-url nats://127.0.0.1:4222 --host fozzie.example.com \
        --state-dir /tmp/fozzie --repo /srv/git/puppet.git --root /tmp/fozzie/root`,
		Version:      version.String(),
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// An empty value would silently mean "from environment.conf".
			for _, name := range []string{"modulepath", "manifest"} {
				if cmd.Flags().Changed(name) && cmd.Flags().Lookup(name).Value.String() == "" {
					return fmt.Errorf("--%s is empty: leave it out to use environment.conf", name)
				}
			}
			ctx, stop := daemon.SignalContext(cmd.Context())
			defer stop()
			return run(ctx, o, cmd.ErrOrStderr())
		},
	}
	fs := cmd.Flags()
	o.metrics.Register(fs)
	o.bus.Client.Register(fs)
	o.bus.Needs = credentials.Streams[credentials.Agent]
	o.bus.Server.Register(fs, "/var/lib/balcony/agent/nats", daemon.ConnectByDefault)
	o.log.Register(fs)
	fs.StringVar(&o.host, "host", "", "this host's name (default: its FQDN)")
	fs.StringVar(&o.stateDir, "state-dir", "/var/lib/balcony/agent", "where the agent keeps its cursor, code mirror and checkouts")
	fs.StringVar(&o.repo, "repo", "", "the Puppet code repository to mirror (URL or path); required unless --code bus, where it is the fallback for revisions with no code on the bus")
	fs.StringVar(&o.code, "code", "git", "where the code comes from: git (--repo) or bus (the code object store, verified)")
	fs.IntVar(&o.keep, "keep-checkouts", 5, "how many revision checkouts to keep")
	fs.StringVar(&o.puppet.Binary, "puppet", "puppet", "the puppet executable")
	fs.StringArrayVar(&o.puppet.Args, "puppet-arg", nil, "extra argument for each Puppet command: catalog compile and apply (repeatable)")
	fs.StringArrayVar(&o.facts, "fact", nil, "name=value: a fact given to Puppet as FACTER_name (repeatable)")
	fs.StringVar(&o.root, "root", "", "simulate a host rooted at this directory: sets the balcony_root fact and removes the directory from reported paths")
	fs.DurationVar(&o.puppet.Timeout, "timeout", 10*time.Minute, "longest a Puppet run may take")
	fs.BoolVar(&o.puppet.Nice, "nice", true, "run Puppet under nice -n 10")
	fs.StringVar(&o.puppet.LockFile, "puppet-lock", "/var/cache/puppet/state/agent_catalog_run.lock", `the puppet agent's run lock (puppet config print agent_catalog_run_lockfile); noops wait and applies are skipped while it names a live process ("" for no check)`)
	fs.StringVar(&o.disabledLock, "puppet-disabled-lock", "/var/cache/puppet/state/agent_disabled.lock", `the lock file of 'puppet agent --disable' (puppet config print agent_disabled_lockfile); applies are skipped while it exists ("" for no check)`)
	fs.StringVar(&o.puppet.ModulePath, "modulepath", "", "module directories inside the checkout, colon-separated; overrides environment.conf (default: the checkout's environment.conf, else modules)")
	fs.StringVar(&o.puppet.Manifest, "manifest", "", "manifest file or directory inside the checkout; overrides environment.conf (default: the checkout's environment.conf, else manifests)")
	fs.DurationVar(&o.heartbeat, "heartbeat", 15*time.Second, "how often the host record is refreshed")
	fs.DurationVar(&o.fetchEvery, "poll", time.Minute, "how often to check for runs without a live message (safety net)")
	return cmd
}

func run(ctx context.Context, o options, stderr io.Writer) error {
	log, err := o.log.Logger(stderr, "agent")
	if err != nil {
		return err
	}
	switch o.code {
	case "git":
		if o.repo == "" {
			return fmt.Errorf("--repo is required: the Puppet code repository to mirror (or --code bus)")
		}
	case "bus":
		o.bus.Needs = append(slices.Clone(o.bus.Needs), "OBJ_"+codebus.Bucket)
	default:
		return fmt.Errorf("--code %q: want git or bus", o.code)
	}
	if o.host == "" {
		if o.host, err = fqdn(); err != nil {
			return err
		}
	}
	for _, f := range o.facts {
		name, value, ok := strings.Cut(f, "=")
		if !ok || name == "" {
			return fmt.Errorf("--fact %q: want name=value", f)
		}
		o.puppet.Env = append(o.puppet.Env, "FACTER_"+name+"="+value)
	}
	if o.root != "" {
		if o.root, err = filepath.Abs(o.root); err != nil {
			return err
		}
		o.puppet.Env = append(o.puppet.Env, "FACTER_balcony_root="+o.root)
	}
	o.puppet.Certname = o.host
	o.puppet.ScratchDir = filepath.Join(o.stateDir, "scratch")
	runner, err := puppet.NewRunner(o.puppet)
	if err != nil {
		return err
	}
	local, mirror, err := openRepository(ctx, o)
	if err != nil {
		return err
	}
	defer local.Close() // mirror is local or nil
	local.SetLog(log)
	reg := metrics.NewRegistry()
	endpoint, err := o.metrics.Serve(ctx, reg, log)
	if err != nil {
		return err
	}
	defer endpoint.Close()
	o.bus.Registerer = reg
	conn, err := o.bus.Connect(ctx, "balcony-agent-"+o.host, log)
	if err != nil {
		return err
	}
	defer conn.Close()
	var code agent.CodeSource = agent.GitCode{Mirror: mirror}
	if o.code == "bus" {
		store, err := conn.JS.ObjectStore(ctx, codebus.Bucket)
		if err != nil {
			return fmt.Errorf("the code object store: %w", err)
		}
		code = agent.NewBusCode(agent.BusCodeOptions{
			Fetcher: codebus.NewFetcher(store, local, codebus.FetcherOptions{}),
			Local:   local, Git: mirror, Log: log, Registerer: reg,
		})
	}
	exec := &agent.PuppetExecutor{
		Host:      o.host,
		Checkouts: gitrepo.NewCheckoutCache(local, filepath.Join(o.stateDir, "checkouts"), o.keep),
		Puppet:    runner,
		Code:      code,
		Root:      o.root,
	}
	a, err := agent.New(ctx, conn, agent.Options{
		Host: o.host, StateDir: o.stateDir, Executor: exec, Code: code,
		Heartbeat: o.heartbeat, Poll: o.fetchEvery, Version: version.String(), Log: log,
		Commits: local, Approvals: approverStatus{approver.Client{NC: conn.NC}},
		PuppetDisabledLock: o.disabledLock, PuppetRunLock: o.puppet.LockFile, Registerer: reg,
	})
	if err != nil {
		return err
	}
	// The state dir is now ours (New locked it): a Puppet left running by
	// an agent killed before us is ended before our first run.
	ended, err := runner.Recover(ctx, puppet.DefaultGrace)
	if err != nil {
		return fmt.Errorf("end the puppet of an earlier agent: %w", err)
	}
	for _, l := range ended {
		log.Warn().Int("pgid", l.PGID).Int("processes", l.Processes).Bool("killed", l.Killed).
			Msg("ended a puppet left running by an earlier agent")
	}
	// cobra prints the error, once.
	return a.Run(ctx)
}

// openRepository opens the agent's copy of the code: the mirror of --repo
// (local and mirror are the same repository), or with --code bus and no
// --repo a repository with no remote (mirror nil).
func openRepository(ctx context.Context, o options) (local, mirror *gitrepo.Repo, err error) {
	dir := filepath.Join(o.stateDir, "code.git")
	if o.repo == "" {
		local, err = gitrepo.Local(dir)
		return local, nil, err
	}
	mirror, err = gitrepo.Mirror(ctx, o.repo, dir)
	if err != nil {
		return nil, nil, fmt.Errorf("mirror %s: %w", o.repo, err)
	}
	return mirror, mirror, nil
}

// fqdn is the host's fully qualified name, lower-cased, as Puppet's
// certname would be.
func fqdn() (string, error) {
	h, err := os.Hostname()
	if err != nil {
		return "", fmt.Errorf("host name: %w (set --host)", err)
	}
	if !strings.Contains(h, ".") {
		if cname, err := net.LookupCNAME(h); err == nil && strings.Contains(strings.TrimSuffix(cname, "."), ".") {
			h = strings.TrimSuffix(cname, ".")
		}
	}
	return strings.ToLower(h), nil
}
