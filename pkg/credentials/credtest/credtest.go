// Package credtest starts, for tests, the embedded server as a secured
// deployment runs it: a server configuration that includes the users
// 'nooper credentials' generated, the nooper connected with its own seed,
// and connects to it as any role.
package credtest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/rs/zerolog"

	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/credentials"
)

// Bus is a secured embedded server and the nooper's connection to it.
type Bus struct {
	// Nooper is the server-owning connection, as the nooper's.
	Nooper *bus.Conn
	// Dir holds the seeds and users.conf; Config is the server's file.
	Dir, Config string
	URL         string
	// TLS is set when the server speaks TLS.
	TLS *TLS

	mu         sync.Mutex
	violations []string
}

// TLS are the PEM files of a TLS server: the CA clients trust.
type TLS struct{ CA, Cert, Key string }

// Start generates the identities of spec (its Dir is ignored: a temporary
// directory is used), writes a server configuration including them (with
// tls when given), starts the embedded server from it as the nooper and
// provisions streams.yaml.
func Start(t testing.TB, spec credentials.Spec, tls *TLS) *Bus {
	t.Helper()
	b := &Bus{Dir: t.TempDir(), TLS: tls}
	spec.Dir = filepath.Join(b.Dir, "credentials")
	spec.Services = true
	if _, err := credentials.Generate(spec); err != nil {
		t.Fatal(err)
	}
	conf := "listen: 127.0.0.1:-1\ninclude \"credentials/users.conf\"\n"
	if tls != nil {
		conf += fmt.Sprintf("tls { cert_file: %q, key_file: %q }\n", tls.Cert, tls.Key)
	}
	b.Config = filepath.Join(b.Dir, "server.conf")
	if err := os.WriteFile(b.Config, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := bus.Connect(context.Background(), bus.Options{
		Name:         "nooper",
		CredsFile:    credentials.SeedFile(spec.Dir, credentials.Nooper, ""),
		Embedded:     bus.EmbeddedOptions{DataDir: filepath.Join(b.Dir, "data"), ConfigFile: b.Config},
		Log:          zerolog.Nop(),
		OnAsyncError: b.violation(t, "nooper"),
	})
	if err != nil {
		t.Fatalf("start the secured bus: %v", err)
	}
	t.Cleanup(c.Close)
	if err := bus.ProvisionDeclared(context.Background(), c.JS); err != nil {
		t.Fatalf("provision as the nooper: %v", err)
	}
	b.Nooper, b.URL = c, c.URL()
	return b
}

// violation records an identity's asynchronous errors (permissions
// violations) for Violations.
func (b *Bus) violation(t testing.TB, who string) func(error) {
	return func(err error) {
		b.mu.Lock()
		defer b.mu.Unlock()
		b.violations = append(b.violations, who+": "+err.Error())
	}
}

// Violations are the asynchronous errors every connection got so far.
func (b *Bus) Violations() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.violations...)
}

// Seed is the seed file of role's identity name (a host, a login).
func (b *Bus) Seed(role credentials.Role, name string) string {
	return credentials.SeedFile(filepath.Join(b.Dir, "credentials"), role, name)
}

// Connect connects as role's identity name, as its daemon or CLI would
// (by URL, with TLS when the server has it). Its asynchronous errors are
// recorded (Violations). It is closed when the test ends.
func (b *Bus) Connect(t testing.TB, role credentials.Role, name string) *bus.Conn {
	t.Helper()
	c, err := b.Dial(role, name)
	if err != nil {
		t.Fatalf("connect as %s %s: %v", role, name, err)
	}
	t.Cleanup(c.Close)
	return c
}

// Dial is Connect that returns its error; the caller closes.
func (b *Bus) Dial(role credentials.Role, name string) (*bus.Conn, error) {
	who := strings.TrimSpace(string(role) + " " + name)
	opts := bus.Options{URL: b.URL, Name: who, CredsFile: b.Seed(role, name), Log: zerolog.Nop(), OnAsyncError: b.violation(nil, who)}
	if b.TLS != nil {
		opts.TLSCA = b.TLS.CA
	}
	return bus.Connect(context.Background(), opts)
}
