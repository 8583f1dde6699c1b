//go:build cluster

// Package cluster runs balcony on a real 3-node JetStream cluster: three
// nats-server processes on loopback ports, built from the nats-server
// module balcony already depends on. It is not part of `make test` (a
// cluster test takes longer than that suite can spare): `make
// test-cluster` runs it, with -tags cluster, and .ci/run runs that after
// `make test`.
package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/bus/bustest"
)

var (
	buildOnce sync.Once
	binDir    string
	serverBin string
	buildErr  error
)

// TestMain removes the nats-server binary built for the tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// natsServer builds the nats-server command of the version in go.mod once
// per test binary: the servers run as processes of their own, so that a
// node can be killed with SIGKILL as a machine can die. The build is
// cached by Go like any other.
func natsServer(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "balcony-cluster-bin-")
		if buildErr != nil {
			return
		}
		serverBin = filepath.Join(binDir, "nats-server")
		cmd := exec.Command("go", "build", "-o", serverBin, "github.com/nats-io/nats-server/v2")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build nats-server: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return serverBin
}

// node is one nats-server process of the cluster.
type node struct {
	name        string
	client      int // client port
	route       int // cluster port
	dir, config string
	cmd         *exec.Cmd
	exited      chan struct{}
}

func (n *node) url() string { return fmt.Sprintf("nats://127.0.0.1:%d", n.client) }

// cluster is three JetStream servers routed to each other.
type cluster struct {
	t     *testing.T
	bin   string
	nodes []*node
}

// freePorts is bus.FreeRoutePorts, failing the test when there are none.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	ports, err := bus.FreeRoutePorts(n)
	if err != nil {
		t.Fatal(err)
	}
	return ports
}

// startCluster starts three nodes, n1 to n3, each with its own store and
// configuration: JetStream with every write synced, as balcony's own
// server runs, 8 MiB messages, and routes to the two others. It returns
// once JetStream answers on every node (a meta leader is elected). The
// processes are killed when the test ends.
func startCluster(t *testing.T) *cluster {
	t.Helper()
	c := &cluster{t: t, bin: natsServer(t)}
	root := t.TempDir()
	ports := freePorts(t, 6)
	for i := range 3 {
		n := &node{name: fmt.Sprintf("n%d", i+1), client: ports[2*i], route: ports[2*i+1], dir: filepath.Join(root, fmt.Sprintf("n%d", i+1))}
		c.nodes = append(c.nodes, n)
	}
	var routes []string
	for _, n := range c.nodes {
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", n.route))
	}
	for _, n := range c.nodes {
		if err := os.MkdirAll(n.dir, 0o750); err != nil {
			t.Fatal(err)
		}
		n.config = filepath.Join(n.dir, "server.conf")
		conf := fmt.Sprintf(`server_name: %s
listen: 127.0.0.1:%d
max_payload: 8MB
jetstream {
  store_dir: %q
  sync_interval: always
}
cluster {
  name: balcony
  listen: 127.0.0.1:%d
  routes: [%s]
}
`, n.name, n.client, filepath.Join(n.dir, "jetstream"), n.route, strings.Join(routes, ", "))
		if err := os.WriteFile(n.config, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, n := range c.nodes {
			c.stop(n)
		}
	})
	t.Cleanup(func() {
		if t.Failed() {
			for _, n := range c.nodes {
				t.Logf("%s log, last lines:\n%s", n.name, tail(filepath.Join(n.dir, "server.log"), 30))
			}
		}
	})
	for _, n := range c.nodes {
		c.start(n)
	}
	admin := c.connect("admin")
	bustest.Eventually(t, time.Minute, "JetStream answering on the cluster", func() bool {
		_, err := admin.JS.AccountInfo(context.Background())
		return err == nil
	})
	return c
}

// start starts n's process on its configuration and store (again, after a
// kill: it rejoins with what it had).
func (c *cluster) start(n *node) {
	c.t.Helper()
	logf, err := os.OpenFile(filepath.Join(n.dir, "server.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		c.t.Fatal(err)
	}
	n.cmd = exec.Command(c.bin, "-c", n.config)
	n.cmd.Stdout, n.cmd.Stderr = logf, logf
	if err := n.cmd.Start(); err != nil {
		logf.Close()
		c.t.Fatalf("start %s: %v", n.name, err)
	}
	n.exited = make(chan struct{})
	go func(cmd *exec.Cmd, exited chan struct{}) {
		_ = cmd.Wait()
		logf.Close()
		close(exited)
	}(n.cmd, n.exited)
	bustest.Eventually(c.t, time.Minute, n.name+" accepting clients", func() bool {
		conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", n.client))
		if err == nil {
			conn.Close()
		}
		return err == nil
	})
}

// kill kills n with SIGKILL, as a machine dies: nothing is flushed, no
// peer is told.
func (c *cluster) kill(n *node) {
	c.t.Helper()
	c.t.Logf("kill -9 %s (pid %d)", n.name, n.cmd.Process.Pid)
	c.stop(n)
}

func (c *cluster) stop(n *node) {
	if n.cmd == nil {
		return
	}
	_ = n.cmd.Process.Kill()
	<-n.exited
	n.cmd = nil
}

// urls is every node's client URL, comma-separated: what each daemon is
// given.
func (c *cluster) urls() string {
	var out []string
	for _, n := range c.nodes {
		out = append(out, n.url())
	}
	return strings.Join(out, ",")
}

// connect connects to the cluster as a daemon does, with every URL.
func (c *cluster) connect(name string) *bus.Conn {
	c.t.Helper()
	conn, err := bus.Connect(context.Background(), bus.Options{URL: c.urls(), Name: name, Log: zerolog.Nop()})
	if err != nil {
		c.t.Fatalf("connect %s: %v", name, err)
	}
	c.t.Cleanup(conn.Close)
	return conn
}

// connectTo connects to n alone, as a client that knows no other node.
func (c *cluster) connectTo(name string, n *node) *bus.Conn {
	c.t.Helper()
	conn, err := bus.Connect(context.Background(), bus.Options{URL: n.url(), Name: name, Log: zerolog.Nop()})
	if err != nil {
		c.t.Fatalf("connect %s to %s: %v", name, n.name, err)
	}
	c.t.Cleanup(conn.Close)
	return conn
}

// survivor is a node other than victim.
func (c *cluster) survivor(victim *node) *node {
	for _, n := range c.nodes {
		if n != victim {
			return n
		}
	}
	c.t.Fatal("a cluster of one node")
	return nil
}

// byName is the node named name.
func (c *cluster) byName(name string) *node {
	c.t.Helper()
	for _, n := range c.nodes {
		if n.name == name {
			return n
		}
	}
	c.t.Fatalf("no node %q", name)
	return nil
}

// streamLeader is the node leading stream's replicas, "" while there is
// none.
func streamLeader(ctx context.Context, js jetstream.JetStream, stream string) string {
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return ""
	}
	info := s.CachedInfo()
	if info.Cluster == nil {
		return ""
	}
	return info.Cluster.Leader
}

// stepdownRequest asks a stream's or a consumer's leader to hand over to
// the server named preferred.
type stepdownRequest struct {
	Placement struct {
		Preferred string `json:"preferred"`
	} `json:"placement"`
}

// apiError is the error part of a JetStream API reply.
type apiError struct {
	Error *struct {
		Code        int    `json:"code"`
		Description string `json:"description"`
	} `json:"error"`
}

// lead moves the leadership of every stream and every durable consumer
// to the node named to, and returns once each says it is led there.
func (c *cluster) lead(conn *bus.Conn, to string) {
	c.t.Helper()
	ctx := context.Background()
	var req stepdownRequest
	req.Placement.Preferred = to
	body, err := json.Marshal(req)
	if err != nil {
		c.t.Fatal(err)
	}
	// ask asks the leader to step down, while to does not lead and an
	// election is not under way.
	ask := func(subject string, leader func() string) {
		bustest.Eventually(c.t, time.Minute, to+" leading "+subject, func() bool {
			switch leader() {
			case to:
				return true
			case "":
				return false // an election is under way
			}
			m, err := conn.NC.Request(subject, body, 10*time.Second)
			if err != nil {
				return false
			}
			var r apiError
			if json.Unmarshal(m.Data, &r) == nil && r.Error != nil && !strings.Contains(r.Error.Description, "temporarily unavailable") {
				c.t.Logf("%s: %s", subject, r.Error.Description)
			}
			return false
		})
	}
	for name := range conn.JS.StreamNames(ctx).Name() {
		ask("$JS.API.STREAM.LEADER.STEPDOWN."+name, func() string { return streamLeader(ctx, conn.JS, name) })
		s, err := conn.JS.Stream(ctx, name)
		if err != nil {
			c.t.Fatal(err)
		}
		for info := range s.ListConsumers(ctx).Info() {
			if info.Config.Durable == "" {
				continue // an ordered consumer: one replica, wherever it is
			}
			consumer := info.Name
			ask("$JS.API.CONSUMER.LEADER.STEPDOWN."+name+"."+consumer, func() string {
				ci, err := s.Consumer(ctx, consumer)
				if err != nil {
					return ""
				}
				in, err := ci.Info(ctx)
				if err != nil || in.Cluster == nil {
					return ""
				}
				return in.Cluster.Leader
			})
		}
	}
}

// current waits until every stream and durable consumer has all its
// replicas current: a node that came back has caught up, and nothing is
// left without a leader.
func (c *cluster) current(conn *bus.Conn) {
	c.t.Helper()
	ctx := context.Background()
	bustest.Eventually(c.t, time.Minute, "every replica current", func() bool {
		for name := range conn.JS.StreamNames(ctx).Name() {
			s, err := conn.JS.Stream(ctx, name)
			if err != nil {
				return false
			}
			info, err := s.Info(ctx)
			if err != nil || !replicasCurrent(info.Cluster, info.Config.Replicas) {
				return false
			}
			for ci := range s.ListConsumers(ctx).Info() {
				if ci.Config.Durable != "" && !replicasCurrent(ci.Cluster, info.Config.Replicas) {
					return false
				}
			}
		}
		return true
	})
}

func replicasCurrent(ci *jetstream.ClusterInfo, want int) bool {
	if ci == nil || ci.Leader == "" || len(ci.Replicas) != want-1 {
		return false
	}
	for _, r := range ci.Replicas {
		if !r.Current || r.Offline {
			return false
		}
	}
	return true
}

// tail is the last n lines of the file at path.
func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := bytes.Split(bytes.TrimRight(data, "\n"), []byte("\n"))
	return string(bytes.Join(lines[max(0, len(lines)-n):], []byte("\n")))
}
