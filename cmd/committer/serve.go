package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/balcony-dev/balcony/pkg/committer"
	"github.com/balcony-dev/balcony/pkg/credentials"
	"github.com/balcony-dev/balcony/pkg/daemon"
	"github.com/balcony-dev/balcony/pkg/metrics"
)

func serveCmd(o *options) *cobra.Command {
	var listen, repo, stateDir, secretFile, githubRepo string
	var server daemon.ServerFlags
	var mf metrics.Flags
	cmd := &cobra.Command{
		Use:   "serve --repo URL --github-repo owner/name --webhook-secret-file FILE",
		Short: "Receive GitHub webhooks: pushes become commit events, issue comments go to the approver",
		Long: `serve listens for GitHub webhook deliveries on POST /webhook. Each delivery's
X-Hub-Signature-256 is checked against the webhook secret first; a wrong or
missing signature is refused with 401. A push to --github-repo is turned into
a commit event exactly as the post-receive hook does it (the mirror of --repo is
fetched first); an issue comment on a balcony review issue is put on the bus
(balcony.github.comment) for the approver. GET /healthz answers 200.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := daemon.SignalContext(cmd.Context())
			defer stop()
			log, err := o.log.Logger(cmd.ErrOrStderr(), "committer")
			if err != nil {
				return err
			}
			if githubRepo == "" || !strings.Contains(githubRepo, "/") {
				return errors.New("--github-repo owner/name is required")
			}
			secret, err := os.ReadFile(secretFile)
			if err != nil {
				return fmt.Errorf("--webhook-secret-file: %w", err)
			}
			secret = []byte(strings.TrimSpace(string(secret)))
			if len(secret) == 0 {
				return errors.New("the webhook secret is empty")
			}
			r, mirrored, err := openWatched(ctx, repo, stateDir)
			if err != nil {
				return err
			}
			fetch := r.Fetch
			if !mirrored { // a local repository is read in place
				fetch = func(context.Context) error { return nil }
			}
			reg, endpoint, err := serveMetrics(ctx, mf, log)
			if err != nil {
				return err
			}
			defer endpoint.Close()
			conn, err := daemon.BusFlags{Client: o.bus, Server: server, Needs: credentials.Streams[credentials.Committer], Registerer: reg}.Connect(ctx, "balcony-committer-serve", log)
			if err != nil {
				return err
			}
			defer conn.Close()
			pub := committer.BusPublisher{Conn: conn, Log: log}
			c, err := committer.New(committer.Options{
				RepoName: o.repoName, RepoPath: r.Path(), Branches: o.branches,
				Source: committer.SourceWebhook, Log: log, Registerer: reg,
			}, pub)
			if err != nil {
				return err
			}
			mux := http.NewServeMux()
			mux.Handle("POST /webhook", &committer.Webhook{
				Secret: secret, Repo: githubRepo, Committer: c, Fetch: fetch, Comments: pub, Log: log,
			})
			mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
			srv := &http.Server{Addr: listen, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
			errc := make(chan error, 1)
			go func() { errc <- srv.ListenAndServe() }()
			log.Info().Str("listen", listen).Str("github_repo", githubRepo).Msg("webhook endpoint started")
			select {
			case err := <-errc:
				return err
			case <-ctx.Done():
			}
			shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			return srv.Shutdown(shutdown)
		},
	}
	f := cmd.Flags()
	f.StringVar(&listen, "listen-http", ":8080", "address of the webhook endpoint")
	f.StringVar(&repo, "repo", "", "the repository to mirror (URL or local path); required")
	f.StringVar(&stateDir, "state-dir", "/var/lib/balcony/committer", "where a remote repository is mirrored")
	f.StringVar(&secretFile, "webhook-secret-file", "", "file holding the webhook's secret; required")
	f.StringVar(&githubRepo, "github-repo", "", "the GitHub repository (owner/name) whose deliveries are accepted; required")
	server.Register(f, "/var/lib/balcony/committer/nats", daemon.ConnectByDefault)
	mf.Register(f)
	return cmd
}
