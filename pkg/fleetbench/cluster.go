package fleetbench

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/balcony-dev/balcony/pkg/bus"
)

// clusterSize is how many servers the R3 measurements run on: the
// cluster docs/cluster.md deploys.
const clusterSize = 3

// cluster is clusterSize embedded JetStream servers in this process,
// routed to each other on loopback ports, each with its own store.
type cluster struct {
	servers []*server.Server
}

// startCluster starts the cluster in dir, each node configured as
// balcony's embedded server is (bus.EmbeddedServerOptions: every write
// synced, 8 MiB messages) plus a cluster block like docs/cluster.md's,
// and returns once the JetStream meta leader sees every node.
func startCluster(ctx context.Context, dir string) (*cluster, error) {
	c := &cluster{}
	ports, err := bus.FreeRoutePorts(clusterSize)
	if err != nil {
		return nil, err
	}
	var routes []string
	for _, p := range ports {
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", p))
	}
	for i, port := range ports {
		name := fmt.Sprintf("n%d", i+1)
		sopts, err := bus.EmbeddedServerOptions(bus.EmbeddedOptions{DataDir: filepath.Join(dir, name), Listen: "127.0.0.1:0"})
		if err != nil {
			c.close()
			return nil, fmt.Errorf("cluster node %s: %w", name, err)
		}
		sopts.ServerName = name
		sopts.NoLog = true
		sopts.Cluster = server.ClusterOpts{Name: "balcony", Host: "127.0.0.1", Port: port}
		sopts.Routes = server.RoutesFromStr(strings.Join(routes, ","))
		srv, err := server.NewServer(sopts)
		if err != nil {
			c.close()
			return nil, fmt.Errorf("cluster node %s: %w", name, err)
		}
		go srv.Start()
		c.servers = append(c.servers, srv)
	}
	for _, srv := range c.servers {
		if !srv.ReadyForConnections(30 * time.Second) {
			c.close()
			return nil, fmt.Errorf("cluster node %s: not ready after 30s", srv.Name())
		}
	}
	// Provisioning at R3 needs a meta leader that knows every node; the
	// servers say so only when asked, so they are asked until they do.
	wait, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for !c.formed() {
		select {
		case <-tick.C:
		case <-wait.Done():
			c.close()
			return nil, fmt.Errorf("cluster: no JetStream meta leader seeing %d nodes: %w", clusterSize, wait.Err())
		}
	}
	return c, nil
}

// formed tells whether a node leads JetStream's meta group and sees every
// node online.
func (c *cluster) formed() bool {
	for _, srv := range c.servers {
		if srv.JetStreamIsLeader() && len(srv.JetStreamClusterPeers()) == clusterSize {
			return true
		}
	}
	return false
}

// urls is every node's client URL, comma-separated: what every daemon of
// a cluster is given.
func (c *cluster) urls() string {
	out := make([]string, len(c.servers))
	for i, srv := range c.servers {
		out[i] = srv.ClientURL()
	}
	return strings.Join(out, ",")
}

func (c *cluster) close() {
	for _, srv := range c.servers {
		srv.Shutdown()
	}
	for _, srv := range c.servers {
		srv.WaitForShutdown()
	}
}

// noSuitablePeers is JetStream's error code for a placement the meta
// leader cannot make: a node it does not yet count as online.
const noSuitablePeers = 10005

// provisionCluster provisions balcony's streams at replicas on a cluster
// just formed: until the meta leader counts every node as online, a
// placement at 3 replicas fails, and is tried again, for up to a minute.
func provisionCluster(ctx context.Context, js jetstream.JetStream, replicas int) error {
	wait, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		err := bus.ProvisionDeclaredReplicas(wait, js, replicas)
		var api *jetstream.APIError
		if err == nil || !errors.As(err, &api) || api.ErrorCode != noSuitablePeers {
			return err
		}
		select {
		case <-wait.Done():
			return err
		case <-time.After(200 * time.Millisecond):
		}
	}
}
