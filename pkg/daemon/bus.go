package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/spf13/pflag"

	"github.com/balcony-dev/balcony/pkg/bus"
)

// DefaultURL is where commands look for the bus when neither --nats-url nor
// $BALCONY_NATS_URL says: the nooper's embedded server on its default
// --listen address.
const DefaultURL = "nats://127.0.0.1:4222"

// ClientFlags say how to reach a running bus. Every command has them; the
// one-shot verbs (show, status, approve, the hook) have nothing else.
type ClientFlags struct {
	// URL is empty when neither the flag nor the environment gave one.
	URL   string
	Creds string
	// TLSCA, TLSCert and TLSKey are PEM files: the CAs to trust, and the
	// client certificate for servers that ask for one.
	TLSCA, TLSCert, TLSKey string
}

// Register adds --nats-url, --nats-creds and --nats-tls-{ca,cert,key} to
// fs, defaulting to $BALCONY_NATS_URL, $BALCONY_NATS_CREDS and
// $BALCONY_NATS_TLS_{CA,CERT,KEY}.
func (c *ClientFlags) Register(fs *pflag.FlagSet) {
	fs.StringVar(&c.URL, "nats-url", os.Getenv("BALCONY_NATS_URL"), "NATS server URL(s), comma-separated: on a cluster give every server, the client moves to another when its own goes away (docs/cluster.md); tls:// for TLS (env BALCONY_NATS_URL; "+DefaultURL+" when both are empty)")
	fs.StringVar(&c.Creds, "nats-creds", os.Getenv("BALCONY_NATS_CREDS"), "NATS credentials: a .creds file or a user nkey seed file, as written by 'nooper credentials' (env BALCONY_NATS_CREDS)")
	fs.StringVar(&c.TLSCA, "nats-tls-ca", os.Getenv("BALCONY_NATS_TLS_CA"), "PEM file of the CAs that sign the NATS server's certificate (env BALCONY_NATS_TLS_CA)")
	fs.StringVar(&c.TLSCert, "nats-tls-cert", os.Getenv("BALCONY_NATS_TLS_CERT"), "PEM client certificate, for a server that verifies clients (env BALCONY_NATS_TLS_CERT)")
	fs.StringVar(&c.TLSKey, "nats-tls-key", os.Getenv("BALCONY_NATS_TLS_KEY"), "PEM key of --nats-tls-cert (env BALCONY_NATS_TLS_KEY)")
}

// options are the connection options of these flags.
func (c ClientFlags) options(name string, log zerolog.Logger) bus.Options {
	return bus.Options{URL: c.Address(), Name: name, CredsFile: c.Creds, TLSCA: c.TLSCA, TLSCert: c.TLSCert, TLSKey: c.TLSKey, Log: log}
}

// Address is the URL(s) to connect to: URL, else DefaultURL.
func (c ClientFlags) Address() string {
	if c.URL == "" {
		return DefaultURL
	}
	return c.URL
}

// Connect connects a one-shot command to the running bus at Address. It
// never starts a server nor provisions, and fails at once, naming the
// URL, when nobody answers.
func (c ClientFlags) Connect(ctx context.Context, name string, log zerolog.Logger) (*bus.Conn, error) {
	return bus.Connect(ctx, c.options(name, log))
}

// Embedding says what a daemon does when it is given no URL.
type Embedding bool

const (
	// ConnectByDefault daemons connect to DefaultURL unless --embedded:
	// a forgotten --nats-url must not leave one alone on a bus of its own.
	ConnectByDefault Embedding = false
	// EmbedByDefault daemons (the nooper) start the embedded server unless
	// given a URL.
	EmbedByDefault Embedding = true
)

// ServerFlags are a daemon's own bus flags: whether it embeds the server,
// how that server stores and listens, and whether the daemon provisions
// streams.yaml.
type ServerFlags struct {
	Embedded bool
	DataDir  string
	Listen   string
	NoSync   bool
	// Config is a nats-server configuration file for the embedded server.
	Config    string
	Provision bool
	// Replicas is how many copies of every stream and bucket provisioning
	// asks for, whatever streams.yaml says; 0 leaves existing streams as
	// they are and creates new ones with streams.yaml's count.
	Replicas int
	// replicasEnv is why $BALCONY_REPLICAS could not be read, if it
	// could not: Connect refuses to start on it.
	replicasEnv error
	// Default is what a daemon given no URL and no --embedded does.
	Default Embedding
}

// Register adds the server flags to fs. defaultDataDir is where an embedded
// server keeps its data.
func (s *ServerFlags) Register(fs *pflag.FlagSet, defaultDataDir string, def Embedding) {
	s.Default = def
	usage := "start an embedded NATS server (on --listen, data in --data-dir) instead of connecting to --nats-url"
	if def == EmbedByDefault {
		usage += " (the default when no URL is given)"
	}
	fs.BoolVar(&s.Embedded, "embedded", false, usage)
	fs.StringVar(&s.DataDir, "data-dir", defaultDataDir, "embedded server: JetStream data directory")
	fs.StringVar(&s.Listen, "listen", "127.0.0.1:4222", "embedded server: address for clients and the nats CLI")
	fs.BoolVar(&s.NoSync, "no-sync-always", false, "embedded server: let JetStream sync every 2 minutes instead of on every write (faster, loses acknowledged writes on power failure)")
	fs.StringVar(&s.Config, "server-config", "", "embedded server: a nats-server configuration file (authorization, accounts, tls, cluster; see docs/security.md); --data-dir, --listen, sync and an 8MB max_payload apply where it is silent")
	// Only the bus's owner creates streams: the others need no rights on
	// the JetStream API beyond their own, and wait for the nooper.
	fs.BoolVar(&s.Provision, "provision", def == EmbedByDefault, "create or update the streams and buckets of streams.yaml at start (otherwise wait until the nooper has); a daemon that embeds the server always does")
	replicas := 0
	if v := os.Getenv("BALCONY_REPLICAS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			s.replicasEnv = fmt.Errorf("$BALCONY_REPLICAS %q is not a number", v)
		}
		replicas = n
	}
	fs.IntVar(&s.Replicas, "replicas", replicas, "when provisioning: copies a JetStream cluster keeps of every stream and bucket, 1 to 5 (3 on a cluster of 3; odd counts survive as many failures as the even count above them); overrides streams.yaml and scales existing streams up or down without losing their content (env BALCONY_REPLICAS; unset: existing streams keep their count, new ones get streams.yaml's, 1)")
}

// replicas is the replica count provisioning asks for (0: none), checked.
func (s ServerFlags) replicas(log zerolog.Logger) (int, error) {
	if s.replicasEnv != nil && s.Replicas == 0 {
		return 0, s.replicasEnv
	}
	if s.Replicas == 0 {
		return 0, nil
	}
	if err := bus.ValidReplicas(s.Replicas); err != nil {
		return 0, fmt.Errorf("--replicas: %w", err)
	}
	if s.Replicas%2 == 0 {
		log.Warn().Int("replicas", s.Replicas).Msg("an even replica count survives no more lost servers than the odd count below it, and costs one more copy of every write")
	}
	return s.Replicas, nil
}

// BusFlags are a daemon's bus flags: the client's, which its verbs share,
// and the server's, which are its own.
type BusFlags struct {
	Client ClientFlags
	Server ServerFlags
	// Needs are the streams (KV_<bucket> for a bucket) the daemon waits
	// for when it does not provision: credentials.Streams of its role.
	Needs []string
	// Registerer is where the connection's metrics go (bus.Options).
	Registerer prometheus.Registerer
}

// errEmbeddedWithURL refuses a command line that both names a bus and asks
// for a new one.
var errEmbeddedWithURL = errors.New("--embedded starts a bus of its own: give no --nats-url (nor $BALCONY_NATS_URL) with it")

// errConfigWithURL refuses a server configuration for a daemon that
// connects to someone else's server.
var errConfigWithURL = errors.New("--server-config configures the embedded server: give no --nats-url (nor $BALCONY_NATS_URL) with it")

// Target says where the daemon's bus is: its own embedded server (embed),
// or the server(s) at url.
func (b BusFlags) Target() (url string, embed bool, err error) {
	switch {
	case b.Server.Embedded && b.Client.URL != "":
		return "", false, errEmbeddedWithURL
	case b.Server.Embedded, b.Client.URL == "" && b.Server.Default == EmbedByDefault:
		return "", true, nil
	default:
		return b.Client.Address(), false, nil
	}
}

// Connect connects the daemon to its bus, or starts the embedded server,
// and provisions. It waits for an external bus to come up, logging where
// it looks, until ctx ends.
func (b BusFlags) Connect(ctx context.Context, name string, log zerolog.Logger) (*bus.Conn, error) {
	url, embed, err := b.Target()
	if err != nil {
		return nil, err
	}
	if b.Server.Config != "" && !embed {
		return nil, errConfigWithURL
	}
	replicas, err := b.Server.replicas(log)
	if err != nil {
		return nil, err
	}
	opts := b.Client.options(name, log)
	opts.URL, opts.WaitForServer, opts.Registerer = url, true, b.Registerer
	if embed {
		opts.Embedded = bus.EmbeddedOptions{DataDir: b.Server.DataDir, Listen: b.Server.Listen, ConfigFile: b.Server.Config}
		if b.Server.NoSync {
			opts.Embedded.SyncInterval = 2 * time.Minute
		}
	}
	conn, err := bus.Connect(ctx, opts)
	if err != nil {
		return nil, err
	}
	if !embed {
		// The embedded server announces itself; an external bus is named here.
		log.Info().Str("url", conn.URL()).Msg("connected to the bus")
	}
	// A daemon that starts the bus owns it: nobody else would provision.
	if b.Server.Provision || embed {
		err = bus.ProvisionDeclaredReplicas(ctx, conn.JS, replicas)
	} else {
		err = bus.WaitForStreams(ctx, conn.JS, b.Needs, log)
	}
	if err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}
