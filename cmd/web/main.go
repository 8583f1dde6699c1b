// Command web serves balcony's review in a browser: the commits and the
// stage each is at, a commit's review, a host's pending changes and the
// fleet, live.
package main

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"

	"github.com/spf13/cobra"

	"github.com/balcony-dev/balcony/pkg/credentials"
	"github.com/balcony-dev/balcony/pkg/daemon"
	"github.com/balcony-dev/balcony/pkg/metrics"
	"github.com/balcony-dev/balcony/pkg/version"
	"github.com/balcony-dev/balcony/pkg/web"
)

type options struct {
	bus        daemon.BusFlags
	log        daemon.LogFlags
	metrics    metrics.Flags
	listen     string
	userHeader string
	proxies    []string
}

func main() {
	if err := newRoot().Execute(); err != nil {
		os.Exit(1)
	}
}

func newRoot() *cobra.Command {
	var o options
	root := &cobra.Command{
		Use:   "web",
		Short: "Serve balcony's review in a browser: commits, hosts and rollouts, live",
		Long: `web serves balcony's review as web pages:

  /               the nooped commits, newest first, each with its stage
                  (nooping k of N hosts, needs approval from ..., approved,
                  applying set X, applied, halted and why) and its counts
  /commit/<sha>   its review: change groups with their hosts and coloured
                  diffs, owners and approval state per group, withdrawn
                  changes, errors, drift, hosts not compared with the first
                  parent, its rollout
  /host/<name>    the last applied revision, what newer commits would change
                  there, drift, lock and Puppet state, recent noops
  /fleet          every host coloured by state, the rollout's progress per set

It reads only through the services' requests (nooper, approver, applier) and
follows balcony.event.>: open pages update themselves when something
happens, without a reload. Pages use no fonts or scripts from elsewhere.

The pages are read-only unless --user-header names the header in which an
authenticating proxy in front puts the user's login: then a signed-in user
may approve and revoke, as that login. The header is believed only from
--trusted-proxy addresses (loopback by default): let nothing else reach
--http-listen (docs/security.md).`,
		Version:      version.String(),
		SilenceUsage: true,
		Args:         cobra.NoArgs,
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
	o.bus.Needs = credentials.Streams[credentials.Web]
	o.bus.Server.Register(f, "/var/lib/balcony/web/nats", daemon.ConnectByDefault)
	o.metrics.Register(f)
	f.StringVar(&o.listen, "http-listen", "127.0.0.1:8081", "address to serve the pages on (host:port; 8081: committer serve's CI trigger takes 8080)")
	f.StringVar(&o.userHeader, "user-header", "", "request header naming the login an authenticating proxy vouches for (e.g. X-Forwarded-User); empty: read-only")
	f.StringSliceVar(&o.proxies, "trusted-proxy", nil, "network (CIDR) the proxy's requests come from; repeatable; default loopback")
	return root
}

func run(ctx context.Context, o options, stderr io.Writer) error {
	log, err := o.log.Logger(stderr, "web")
	if err != nil {
		return err
	}
	var proxies []netip.Prefix
	for _, p := range o.proxies {
		prefix, err := netip.ParsePrefix(p)
		if err != nil {
			return fmt.Errorf("--trusted-proxy %q: %w", p, err)
		}
		proxies = append(proxies, prefix)
	}
	reg := metrics.NewRegistry()
	o.bus.Registerer = reg
	endpoint, err := o.metrics.Serve(ctx, reg, log)
	if err != nil {
		return err
	}
	defer endpoint.Close()
	conn, err := o.bus.Connect(ctx, "balcony-web", log)
	if err != nil {
		return err
	}
	defer conn.Close()
	s, err := web.New(conn, web.Options{Listen: o.listen, UserHeader: o.userHeader, TrustedProxies: proxies, Log: log, Registerer: reg})
	if err != nil {
		return err
	}
	return s.Run(ctx)
}
