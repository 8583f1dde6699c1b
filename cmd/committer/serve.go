package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/balcony-dev/balcony/pkg/committer"
	"github.com/balcony-dev/balcony/pkg/credentials"
	"github.com/balcony-dev/balcony/pkg/daemon"
	"github.com/balcony-dev/balcony/pkg/metrics"
	"github.com/balcony-dev/balcony/pkg/nooper"
)

func serveCmd(o *options) *cobra.Command {
	var listen, repo, stateDir, secretFile, githubRepo, tokenFile string
	var server daemon.ServerFlags
	var mf metrics.Flags
	cmd := &cobra.Command{
		Use:   "serve --repo URL [--github-repo owner/name --webhook-secret-file FILE] [--trigger-token-file FILE]",
		Short: "Receive GitHub webhooks and CI triggers: pushes become commit events, issue comments go to the approver, triggers noop a revision",
		Long: `serve listens on --listen-http for two endpoints; at least one must be
configured.

GitHub webhook (--github-repo and --webhook-secret-file): deliveries on
POST /webhook. Each delivery's X-Hub-Signature-256 is checked against the
webhook secret first; a wrong or missing signature is refused with 401. A push
to --github-repo is turned into a commit event exactly as the post-receive hook
does it (the mirror of --repo is fetched first); an issue comment on a balcony
review issue is put on the bus (balcony.github.comment) for the approver.

CI trigger (--trigger-token-file): POST /trigger with "Authorization: Bearer
<token>" and {"revision": "<sha or ref>"} noops a revision of a configured
branch's first-parent chain (a commit event is published for it);
{"renoop": "<sha>"} noops a nooped commit again. The answer is 202 with the
trigger's id at once (Location: /trigger/<id>); GET /trigger/<id> says where it
is: queued, dispatched (with the noop's progress), ready (with the review's
summary) or failed (with the reason). Triggers are kept in the triggers bucket
and handed to the nooper one after the other (docs/trigger.md).

GET /healthz answers 200.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := daemon.SignalContext(cmd.Context())
			defer stop()
			log, err := o.log.Logger(cmd.ErrOrStderr(), "committer")
			if err != nil {
				return err
			}
			secret, err := webhookSecret(githubRepo, secretFile)
			if err != nil {
				return err
			}
			token, err := readSecretFile("--trigger-token-file", tokenFile)
			if err != nil {
				return err
			}
			if secret == nil && token == nil {
				return errors.New("nothing to serve: give --github-repo and --webhook-secret-file (GitHub webhook), --trigger-token-file (CI trigger), or both")
			}
			r, mirrored, err := openWatched(ctx, repo, stateDir, log)
			if err != nil {
				return err
			}
			var fetch func(context.Context) error
			if mirrored { // a remote repository is fetched into the mirror; a local one is read in place
				fetch = r.Fetch
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
				Source: committer.SourceWebhook, Log: log, Registerer: reg, Code: o.code(conn),
			}, pub)
			if err != nil {
				return err
			}
			mux := http.NewServeMux()
			if secret != nil {
				mux.Handle("POST /webhook", &committer.Webhook{
					Secret: secret, Repo: githubRepo, Committer: c, Fetch: orNoFetch(fetch), Comments: pub, Log: log,
				})
				log.Info().Str("github_repo", githubRepo).Msg("GitHub webhook on POST /webhook")
			}
			var trigger *committer.Trigger
			if token != nil {
				kv, err := conn.JS.KeyValue(ctx, committer.TriggerBucket)
				if err != nil {
					return fmt.Errorf("the %s bucket: %w", committer.TriggerBucket, err)
				}
				trigger, err = committer.NewTrigger(ctx, committer.TriggerOptions{
					Token: token, Committer: c, Fetch: fetch, Nooper: nooper.Client{NC: conn.NC},
					Bucket: kv, Log: log, Registerer: reg,
				})
				if err != nil {
					return err
				}
				h := trigger.Handler()
				mux.Handle("POST /trigger", h)
				mux.Handle("GET /trigger/{id}", h)
				log.Info().Msg("CI trigger on POST /trigger")
			}
			mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
			return serveHTTP(ctx, listen, mux, trigger, log)
		},
	}
	f := cmd.Flags()
	f.StringVar(&listen, "listen-http", ":8080", "address of the webhook and trigger endpoints")
	f.StringVar(&repo, "repo", "", "the repository to mirror (URL or local path); required")
	f.StringVar(&stateDir, "state-dir", "/var/lib/balcony/committer", "where a remote repository is mirrored")
	f.StringVar(&secretFile, "webhook-secret-file", "", "file holding the GitHub webhook's secret (with --github-repo: serve POST /webhook)")
	f.StringVar(&githubRepo, "github-repo", "", "the GitHub repository (owner/name) whose deliveries are accepted (with --webhook-secret-file)")
	f.StringVar(&tokenFile, "trigger-token-file", "", "file holding the bearer token of the CI trigger (serve POST /trigger and GET /trigger/<id>)")
	server.Register(f, "/var/lib/balcony/committer/nats", daemon.ConnectByDefault)
	mf.Register(f)
	return cmd
}

// webhookSecret reads the GitHub webhook's secret when the webhook is
// configured: nil when neither flag is given, an error when one is
// missing.
func webhookSecret(githubRepo, secretFile string) ([]byte, error) {
	switch {
	case githubRepo == "" && secretFile == "":
		return nil, nil
	case githubRepo == "" || !strings.Contains(githubRepo, "/"):
		return nil, errors.New("--github-repo owner/name is required with --webhook-secret-file")
	case secretFile == "":
		return nil, errors.New("--webhook-secret-file is required with --github-repo")
	}
	return readSecretFile("--webhook-secret-file", secretFile)
}

// readSecretFile reads a secret from file, trimmed; nil when file is "".
// An empty secret is an error: it would let anyone in.
func readSecretFile(flag, file string) ([]byte, error) {
	if file == "" {
		return nil, nil
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flag, err)
	}
	data = []byte(strings.TrimSpace(string(data)))
	if len(data) == 0 {
		return nil, fmt.Errorf("%s: %s is empty", flag, file)
	}
	return data, nil
}

func orNoFetch(fetch func(context.Context) error) func(context.Context) error {
	if fetch == nil {
		return func(context.Context) error { return nil }
	}
	return fetch
}

// serveHTTP serves mux on listen, and works trigger's queue when there is
// one, until ctx ends; then it stops both and waits for them.
func serveHTTP(ctx context.Context, listen string, mux http.Handler, trigger *committer.Trigger, log zerolog.Logger) error {
	l, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	workCtx, stopWork := context.WithCancel(ctx)
	var wg sync.WaitGroup
	if trigger != nil {
		wg.Go(func() { _ = trigger.Run(workCtx) })
	}
	defer wg.Wait()
	defer stopWork()
	log.Info().Str("listen", l.Addr().String()).Msg("HTTP endpoint started")
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(shutdown)
}
