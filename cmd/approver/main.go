// Command approver collects sign-off for each commit's delta noop, and is
// the CLI to see and give it.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/balcony-dev/balcony/pkg/approver"
	"github.com/balcony-dev/balcony/pkg/credentials"
	"github.com/balcony-dev/balcony/pkg/daemon"
	"github.com/balcony-dev/balcony/pkg/github"
	"github.com/balcony-dev/balcony/pkg/gitrepo"
	"github.com/balcony-dev/balcony/pkg/metrics"
	"github.com/balcony-dev/balcony/pkg/version"
)

type options struct {
	metrics  metrics.Flags
	bus      daemon.BusFlags
	log      daemon.LogFlags
	repo     string
	stateDir string
	config   string
	gh       githubFlags
}

// githubFlags configure the GitHub review issues; unset repo means no GitHub.
type githubFlags struct {
	repo, apiURL, tokenFile, appKeyFile string
	appID, installationID               int64
	poll                                time.Duration
}

// client builds the GitHub client, or nil when GitHub is not configured.
func (g githubFlags) client() (*github.Client, error) {
	if g.repo == "" {
		return nil, nil
	}
	owner, name, ok := strings.Cut(g.repo, "/")
	if !ok {
		return nil, fmt.Errorf("--github-repo %q: want owner/name", g.repo)
	}
	opts := github.Options{BaseURL: g.apiURL, Owner: owner, Repo: name, AppID: g.appID, InstallationID: g.installationID}
	if g.tokenFile != "" {
		tok, err := os.ReadFile(g.tokenFile)
		if err != nil {
			return nil, fmt.Errorf("--github-token-file: %w", err)
		}
		opts.Token = strings.TrimSpace(string(tok))
	}
	if g.appKeyFile != "" {
		key, err := os.ReadFile(g.appKeyFile)
		if err != nil {
			return nil, fmt.Errorf("--github-app-key-file: %w", err)
		}
		opts.PrivateKeyPEM = key
	}
	return github.New(opts, nil)
}

func main() {
	if err := newRoot().Execute(); err != nil {
		os.Exit(1)
	}
}

// newRoot builds the approver command and its verbs.
func newRoot() *cobra.Command {
	var o options
	root := &cobra.Command{
		Use:   "approver",
		Short: "Collect sign-off from the owners of every change group",
		Long: `approver evaluates every finished delta noop (balcony.event.noop.ready):
each group of changes is owned by the CODEOWNERS owners of its source file,
of its module directory and of the node file of each of its hosts, read at the
commit's first parent so that a commit cannot grant itself owners. A resource
with no source file of its own (a file built by concat) takes its module from
its containment path: the outermost class or define whose module is in the
repository. A group is
approved when an owner of its file or of its module approves, or when every
node file of its hosts has an approving owner; the commit's author and
co-authors never count; admins approve anything. A commit's parents, author
and co-authors are read from the approver's own mirror of --repo, never from
the commit event or the nooper's records; a noop compared with another parent
than git's is held back. A commit is approved when all
its groups are, and a commit with no changes (or only withdrawn ones) is
approved by itself; a commit whose noop failed or got no answer on some host is
not approved, whatever its groups. Node files and modules are where the
repository's environment.conf says (else manifests and modules), unless the
config's manifest_dirs and module_dirs say otherwise; a revision with no node
statement is warned about in the log and the status.

Approvals are bound to the groups as they were seen (their digests): when a
re-noop changes a group, its approvals lapse and its owners are asked again.
It announces balcony.event.approval.needed, .granted, .lapsed and .complete,
keeps its state in the approvals bucket, and answers the status, approve and
revoke commands on the NATS micro-service API.`,
		Version:      version.String(),
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := daemon.SignalContext(cmd.Context())
			defer stop()
			return run(ctx, o, cmd.ErrOrStderr())
		},
	}
	// The verbs inherit the client and log flags, not the server's.
	pf := root.PersistentFlags()
	o.bus.Client.Register(pf)
	o.log.Register(pf)
	f := root.Flags()
	o.metrics.Register(f)
	o.bus.Needs = credentials.Streams[credentials.Approver]
	o.bus.Server.Register(f, "/var/lib/balcony/approver/nats", daemon.ConnectByDefault)
	f.StringVar(&o.repo, "repo", "", "the Puppet code repository (URL or path), to read CODEOWNERS, node files and each commit's parents, author and co-authors; required")
	f.StringVar(&o.stateDir, "state-dir", "/var/lib/balcony/approver", "where the repository is mirrored")
	f.StringVar(&o.config, "config", "", "YAML file: admins, teams, logins (email: login), manifest_dirs and module_dirs (overriding the repository's environment.conf)")
	f.StringVar(&o.gh.repo, "github-repo", "", "owner/name of the GitHub repository for review issues (none when empty)")
	f.StringVar(&o.gh.apiURL, "github-api-url", "", "API base URL of a GitHub Enterprise Server (https://ghe.example.com/api/v3/)")
	f.StringVar(&o.gh.tokenFile, "github-token-file", "", "file holding a GitHub token")
	f.Int64Var(&o.gh.appID, "github-app-id", 0, "GitHub App id (instead of a token)")
	f.Int64Var(&o.gh.installationID, "github-installation-id", 0, "GitHub App installation id")
	f.StringVar(&o.gh.appKeyFile, "github-app-key-file", "", "GitHub App private key (PEM)")
	f.DurationVar(&o.gh.poll, "github-poll", time.Minute, "how often open review issues are read for approvals (the fallback for lost webhooks)")
	root.AddCommand(statusCmd(&o), approveCmd(&o), revokeCmd(&o))
	return root
}

func run(ctx context.Context, o options, stderr io.Writer) error {
	log, err := o.log.Logger(stderr, "approver")
	if err != nil {
		return err
	}
	if o.repo == "" {
		return fmt.Errorf("--repo is required: the Puppet code repository")
	}
	var cfg approver.Config
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
	conn, err := o.bus.Connect(ctx, "balcony-approver", log)
	if err != nil {
		return err
	}
	defer conn.Close()
	gh, err := o.gh.client()
	if err != nil {
		return err
	}
	opts := approver.Options{Code: mirror, Config: cfg, Log: log, GitHubPoll: o.gh.poll, Version: version.String(), Registerer: reg}
	if gh != nil {
		opts.GitHub = gh
	}
	a, err := approver.New(ctx, conn, opts)
	if err != nil {
		return err
	}
	// cobra prints the error, once.
	return a.Run(ctx)
}

// client connects to the bus for one CLI command.
func client(cmd *cobra.Command, o *options) (approver.Client, func(), context.Context, error) {
	ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
	log, err := o.log.Logger(cmd.ErrOrStderr(), "approver")
	if err != nil {
		cancel()
		return approver.Client{}, nil, nil, err
	}
	conn, err := o.bus.Client.Connect(ctx, "balcony-approver-cli", log)
	if err != nil {
		cancel()
		return approver.Client{}, nil, nil, err
	}
	return approver.Client{NC: conn.NC}, func() { conn.Close(); cancel() }, ctx, nil
}
