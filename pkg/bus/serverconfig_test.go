package bus_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
	"github.com/rs/zerolog"

	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/bus/bustest"
)

// userSeed writes a new user nkey seed to dir/name and returns its path
// and public key.
func userSeed(t *testing.T, dir, name string) (string, string) {
	t.Helper()
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	seed, err := kp.Seed()
	if err != nil {
		t.Fatal(err)
	}
	pub, err := kp.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, append(seed, '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, pub
}

func writeConfig(t *testing.T, dir, text string) string {
	t.Helper()
	path := filepath.Join(dir, "server.conf")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// A server configuration file's authorization holds for everyone, the
// daemon that embeds the server included; its own replies come to its
// own inbox prefix.
func TestEmbeddedServerConfigAuth(t *testing.T) {
	dir := t.TempDir()
	ownerSeed, ownerPub := userSeed(t, dir, "owner.nk")
	_, otherPub := userSeed(t, dir, "other.nk")
	cfg := writeConfig(t, dir, fmt.Sprintf(`
authorization {
  users = [
    { nkey: %s }
    { nkey: %s, permissions: { publish: ["nothing"] } }
  ]
}
`, ownerPub, otherPub))
	ctx := context.Background()
	opts := bus.Options{
		Embedded: bus.EmbeddedOptions{DataDir: filepath.Join(dir, "data"), Listen: "127.0.0.1:0", ConfigFile: cfg},
		Log:      zerolog.Nop(),
	}

	// Without credentials the daemon cannot use its own server, and is
	// told what to give.
	if _, err := bus.Connect(ctx, opts); err == nil || !strings.Contains(err.Error(), "--nats-creds") {
		t.Fatalf("embedded without credentials: %v, want an error naming --nats-creds", err)
	}

	opts.CredsFile = ownerSeed
	c, err := bus.Connect(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	if err := bus.ProvisionDeclared(ctx, c.JS); err != nil {
		t.Fatalf("provision through the in-process connection: %v", err)
	}
	if got, want := c.NC.NewRespInbox(), bus.InboxPrefix(ownerPub)+"."; !strings.HasPrefix(got, want) {
		t.Errorf("inbox %s, want prefix %s", got, want)
	}
	// balcony's defaults hold where the file is silent.
	if got := c.NC.MaxPayload(); got != bus.DefaultMaxPayload {
		t.Errorf("max payload %d, want %d", got, bus.DefaultMaxPayload)
	}

	// Another process without credentials is refused.
	_, err = bus.Connect(ctx, bus.Options{URL: c.URL(), Log: zerolog.Nop()})
	if !errors.Is(err, nats.ErrAuthorization) {
		t.Errorf("anonymous client: %v, want an authorization violation", err)
	}
}

// What the file says wins over balcony's defaults.
func TestEmbeddedServerConfigWins(t *testing.T) {
	dir := t.TempDir()
	store := filepath.Join(dir, "store")
	cfg := writeConfig(t, dir, fmt.Sprintf(`
host: 127.0.0.1
port: -1
max_payload: 2MB
jetstream { store_dir: %q, sync_interval: 30s }
`, store))
	sopts, err := bus.EmbeddedServerOptions(bus.EmbeddedOptions{DataDir: filepath.Join(dir, "data"), Listen: "127.0.0.1:4999", ConfigFile: cfg})
	if err != nil {
		t.Fatal(err)
	}
	if sopts.StoreDir != store || sopts.MaxPayload != 2<<20 || sopts.SyncAlways || sopts.SyncInterval.Seconds() != 30 || sopts.Port != -1 || !sopts.JetStream {
		t.Errorf("store %s payload %d sync always %v every %s port %d jetstream %v", sopts.StoreDir, sopts.MaxPayload, sopts.SyncAlways, sopts.SyncInterval, sopts.Port, sopts.JetStream)
	}
	if _, err := bus.EmbeddedServerOptions(bus.EmbeddedOptions{DataDir: dir, ConfigFile: filepath.Join(dir, "missing.conf")}); err == nil {
		t.Error("a missing configuration file is accepted")
	}
}

// The embedded server speaks TLS when its file says so; clients verify it
// with --nats-tls-ca, and a client that does not trust the CA fails.
func TestEmbeddedServerTLS(t *testing.T) {
	dir := t.TempDir()
	files := bustest.NewTLSFiles(t)
	cfg := writeConfig(t, dir, fmt.Sprintf(`
tls { cert_file: %q, key_file: %q }
`, files.Cert, files.Key))
	ctx := context.Background()
	c, err := bus.Connect(ctx, bus.Options{
		Embedded: bus.EmbeddedOptions{DataDir: dir, Listen: "127.0.0.1:0", ConfigFile: cfg},
		Log:      zerolog.Nop(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	if !strings.HasPrefix(c.URL(), "tls://") {
		t.Fatalf("URL %s, want tls://", c.URL())
	}
	if err := bus.ProvisionDeclared(ctx, c.JS); err != nil {
		t.Fatal(err)
	}
	cl, err := bus.Connect(ctx, bus.Options{URL: c.URL(), TLSCA: files.CA, Log: zerolog.Nop()})
	if err != nil {
		t.Fatalf("client trusting the CA: %v", err)
	}
	defer cl.Close()
	if _, err := cl.JS.Stream(ctx, "RUNS"); err != nil {
		t.Errorf("over TLS: %v", err)
	}
	if _, ok := cl.NC.TLSConnectionState(); ok != nil {
		t.Errorf("connection state: %v", ok)
	}
	if bad, err := bus.Connect(ctx, bus.Options{URL: c.URL(), Log: zerolog.Nop()}); err == nil {
		bad.Close()
		t.Error("a client that does not trust the CA connected")
	}
	if _, err := bus.Connect(ctx, bus.Options{URL: c.URL(), TLSCert: files.Cert, Log: zerolog.Nop()}); err == nil {
		t.Error("a client certificate without its key is accepted")
	}
}

func TestReadUserKey(t *testing.T) {
	dir := t.TempDir()
	seedFile, pub := userSeed(t, dir, "user.nk")
	got, creds, err := bus.ReadUserKey(seedFile)
	if err != nil || got != pub || creds {
		t.Errorf("seed file: %s %v %v, want %s false", got, creds, err, pub)
	}
	seed, err := os.ReadFile(seedFile)
	if err != nil {
		t.Fatal(err)
	}
	credsFile := filepath.Join(dir, "user.creds")
	text := "-----BEGIN NATS USER JWT-----\neyJhbGciOi.fake.jwt\n------END NATS USER JWT------\n\n-----BEGIN USER NKEY SEED-----\n" + string(seed) + "------END USER NKEY SEED------\n"
	if err := os.WriteFile(credsFile, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	got, creds, err = bus.ReadUserKey(credsFile)
	if err != nil || got != pub || !creds {
		t.Errorf("creds file: %s %v %v, want %s true", got, creds, err, pub)
	}
	garbage := filepath.Join(dir, "garbage")
	if err := os.WriteFile(garbage, []byte("hello\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := bus.ReadUserKey(garbage); err == nil {
		t.Error("a file without a seed is accepted")
	}
}

func TestRedactURL(t *testing.T) {
	tests := map[string]string{
		"nats://127.0.0.1:4222":                         "nats://127.0.0.1:4222",
		"nats://kermit:secret@bus:4222":                 "nats://kermit:xxxxx@bus:4222",
		"nats://s3cr3ttoken@bus:4222,nats://a:b@c:4222": "nats://xxxxx@bus:4222,nats://a:xxxxx@c:4222",
	}
	for in, want := range tests {
		if got := bus.RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}
