// Command committer turns pushes to the Puppet code repository into commit
// events on the bus: from a git post-receive hook, or by watching a
// repository.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/codebus"
	"github.com/balcony-dev/balcony/pkg/committer"
	"github.com/balcony-dev/balcony/pkg/credentials"
	"github.com/balcony-dev/balcony/pkg/daemon"
	"github.com/balcony-dev/balcony/pkg/gitrepo"
	"github.com/balcony-dev/balcony/pkg/metrics"
	"github.com/balcony-dev/balcony/pkg/version"
)

type options struct {
	bus      daemon.ClientFlags
	log      daemon.LogFlags
	repoName string
	branches []string
	// publishCode: put each revision's code in the code object store
	// before its event (pkg/codebus).
	publishCode bool
}

// code is committer.Options.Code as --publish-code says.
func (o *options) code(conn *bus.Conn) func(*gitrepo.Repo) committer.CodePublisher {
	if !o.publishCode {
		return nil
	}
	return committer.CodeOnBus(conn.JS, codebus.PublisherOptions{})
}

func main() {
	if err := newRoot().Execute(); err != nil {
		os.Exit(1)
	}
}

// newRoot builds the committer command and its verbs.
func newRoot() *cobra.Command {
	var o options
	root := &cobra.Command{
		Use:   "committer",
		Short: "Publish the commits pushed to the Puppet repository as balcony commit events",
		Long: `committer publishes one event per updated branch on balcony.commit.<repo>,
listing the commits the branch gained in topological order (parents first).
Only the configured branches are published; a deleted branch or a ref that is
not a branch is logged and skipped.

What was published is remembered as refs/balcony/published/<branch> inside the
repository, so a push made while the bus is down is published by the next push
or by 'committer watch'.`,
		Version:      version.String(),
		SilenceUsage: true,
	}
	pf := root.PersistentFlags()
	o.bus.Register(pf) // watch and serve add the server flags
	o.log.Register(pf)
	pf.StringVar(&o.repoName, "repo-name", "puppet", "the repository's name on the bus (balcony.commit.<name>)")
	pf.StringArrayVar(&o.branches, "branch", []string{"main"}, "a branch to publish (repeatable)")
	pf.BoolVar(&o.publishCode, "publish-code", true, "put each revision's code (a git pack of what is new since the revision published before) in the bus's code object store before its event, for agents that cannot reach git; a few KiB and milliseconds per push (docs/code-over-bus.md)")
	root.AddCommand(hookCmd(&o), installHookCmd(&o), watchCmd(&o), serveCmd(&o))
	return root
}

func hookCmd(o *options) *cobra.Command {
	var gitDir string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "hook",
		Short: "Read post-receive lines (old new ref) from stdin and publish them",
		Long: `hook is what the installed post-receive hook runs. It never holds a push up
for long: when the bus cannot be reached within --timeout it says so and
exits 0, and the next push or 'committer watch' publishes what is missing.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := daemon.SignalContext(cmd.Context())
			defer stop()
			if !cmd.Flags().Changed("log-level") {
				o.log.Level = "warn" // git shows the hook's output to the pusher
			}
			log, err := o.log.Logger(cmd.ErrOrStderr(), "committer")
			if err != nil {
				return err
			}
			updates, parseErr := committer.ParsePostReceive(os.Stdin)
			if parseErr != nil {
				log.Warn().Err(parseErr).Msg("some post-receive lines were not understood")
			}
			ctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			conn, err := o.bus.Connect(ctx, "balcony-committer-hook", log)
			if err != nil {
				fmt.Fprintf(os.Stderr, "balcony: could not reach the bus (%v); %s will be published by the next push or 'committer watch'\n", err, pushedBranches(updates, o.branches))
				return nil
			}
			defer conn.Close()
			c, err := committer.New(committer.Options{
				RepoName: o.repoName, RepoPath: gitDir, Branches: o.branches,
				Source: committer.SourceHook, Log: log, Code: o.code(conn),
			}, committer.BusPublisher{Conn: conn, Log: log})
			if err != nil {
				return err
			}
			defer c.Close()
			n, err := c.HandleUpdates(ctx, updates)
			var perr *committer.PublishError
			if errors.As(err, &perr) {
				fmt.Fprintf(os.Stderr, "balcony: could not reach the bus (%v); %s will be published by the next push or 'committer watch'\n", perr.Err, strings.Join(perr.Branches, ", "))
				return nil
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "balcony: published %d commit event(s)\n", n)
			return nil
		},
	}
	env := os.Getenv("GIT_DIR")
	if env == "" {
		env = "."
	}
	cmd.Flags().StringVar(&gitDir, "git-dir", env, "the repository (default: $GIT_DIR, as git sets it for hooks)")
	cmd.Flags().DurationVar(&timeout, "timeout", 10*time.Second, "longest the hook waits for the bus")
	return cmd
}

// pushedBranches names the configured branches a push updated.
func pushedBranches(updates []committer.RefUpdate, configured []string) string {
	var names []string
	for _, u := range updates {
		if b, ok := strings.CutPrefix(u.Ref, "refs/heads/"); ok && slices.Contains(configured, b) {
			names = append(names, b)
		}
	}
	if len(names) == 0 {
		return "nothing"
	}
	return strings.Join(names, ", ")
}

func installHookCmd(o *options) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "install-hook <bare-repo>",
		Short: "Install the post-receive hook that runs 'committer hook' into a bare repository",
		Long: `install-hook writes <bare-repo>/hooks/post-receive calling this committer
binary with --nats-url, --nats-creds, --nats-tls-{ca,cert,key}, --repo-name
and --branch as given here (files made absolute). It refuses a
directory that is not a bare repository, and a hook it did not write unless
--force.`,
		Example: "  committer install-hook --nats-url nats://127.0.0.1:4222 --branch main /srv/git/puppet.git",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.bus.URL == "" {
				return errors.New("--nats-url is required: the hook connects to a running bus")
			}
			exe, err := os.Executable()
			if err != nil {
				return err
			}
			hookArgs := []string{"--nats-url", o.bus.URL, "--repo-name", o.repoName}
			// The hook runs in the repository: files are named absolutely.
			for _, f := range []struct{ flag, path string }{
				{"--nats-creds", o.bus.Creds}, {"--nats-tls-ca", o.bus.TLSCA},
				{"--nats-tls-cert", o.bus.TLSCert}, {"--nats-tls-key", o.bus.TLSKey},
			} {
				if f.path == "" {
					continue
				}
				abs, err := filepath.Abs(f.path)
				if err != nil {
					return err
				}
				hookArgs = append(hookArgs, f.flag, abs)
			}
			for _, b := range o.branches {
				hookArgs = append(hookArgs, "--branch", b)
			}
			repo, err := filepath.Abs(args[0])
			if err != nil {
				return err
			}
			if err := committer.InstallHook(repo, committer.HookConfig{CommitterPath: exe, Args: hookArgs, Force: force}); err != nil {
				return err
			}
			fmt.Printf("installed %s\n", filepath.Join(repo, "hooks", "post-receive"))
			marked, err := committer.MarkBaseline(repo, o.branches)
			if err != nil {
				return err
			}
			for b, sha := range marked {
				fmt.Printf("%s starts at %s: earlier commits are not nooped\n", b, sha)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "replace a post-receive hook balcony did not write")
	return cmd
}

func watchCmd(o *options) *cobra.Command {
	var repo, stateDir string
	var interval time.Duration
	var server daemon.ServerFlags
	var mf metrics.Flags
	cmd := &cobra.Command{
		Use:   "watch --repo URL",
		Short: "Poll a repository and publish the commits of configured branches",
		Long: `watch polls a repository with go-git: a remote URL is mirrored into
--state-dir and fetched every --interval; a local path is read in place (for
instance the bare repository the hook is installed in, to publish pushes made
while the bus was down).`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := daemon.SignalContext(cmd.Context())
			defer stop()
			log, err := o.log.Logger(cmd.ErrOrStderr(), "committer")
			if err != nil {
				return err
			}
			r, fetch, err := openWatched(ctx, repo, stateDir, log)
			if err != nil {
				return err
			}
			defer r.Close()
			reg, endpoint, err := serveMetrics(ctx, mf, log)
			if err != nil {
				return err
			}
			defer endpoint.Close()
			conn, err := daemon.BusFlags{Client: o.bus, Server: server, Needs: credentials.Streams[credentials.Committer], Registerer: reg}.Connect(ctx, "balcony-committer-watch", log)
			if err != nil {
				return err
			}
			defer conn.Close()
			c, err := committer.New(committer.Options{
				RepoName: o.repoName, RepoPath: r.Path(), Branches: o.branches,
				Source: committer.SourceWatch, Log: log, Registerer: reg, Code: o.code(conn),
			}, committer.BusPublisher{Conn: conn, Log: log})
			if err != nil {
				return err
			}
			defer c.Close()
			return committer.Watch(ctx, c, r, interval, fetch)
		},
	}
	cmd.Flags().StringVar(&repo, "repo", "", "repository URL or local path; required")
	cmd.Flags().StringVar(&stateDir, "state-dir", "/var/lib/balcony/committer", "where a remote repository is mirrored")
	cmd.Flags().DurationVar(&interval, "interval", 30*time.Second, "how often to poll")
	server.Register(cmd.Flags(), "/var/lib/balcony/committer/nats", daemon.ConnectByDefault)
	mf.Register(cmd.Flags())
	return cmd
}

// serveMetrics starts a long-running verb's metrics endpoint (none
// without --metrics-listen) and returns the registry its collectors join.
func serveMetrics(ctx context.Context, mf metrics.Flags, log zerolog.Logger) (*prometheus.Registry, *metrics.Server, error) {
	reg := metrics.NewRegistry()
	endpoint, err := mf.Serve(ctx, reg, log)
	return reg, endpoint, err
}

// openWatched opens a local repository in place, or mirrors a remote one.
// fetch tells whether it must be fetched before each poll.
func openWatched(ctx context.Context, repo, stateDir string, log zerolog.Logger) (*gitrepo.Repo, bool, error) {
	if repo == "" {
		return nil, false, errors.New("--repo is required")
	}
	if st, err := os.Stat(repo); err == nil && st.IsDir() {
		r, err := gitrepo.Open(repo)
		return r, false, err
	}
	r, err := gitrepo.Mirror(ctx, repo, filepath.Join(stateDir, "mirror.git"))
	if err != nil {
		return nil, true, err
	}
	r.SetLog(log) // its upkeep: a mirror gains a pack per fetch
	return r, true, nil
}
