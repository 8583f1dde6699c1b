package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/rs/zerolog"

	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/bus/bustest"
	"github.com/balcony-dev/balcony/pkg/credentials"
)

// securedBus is a fleet's bus secured as docs/security.md says: the
// identities the real `nooper credentials` wrote for the fleet's hosts,
// its people and every service, a server configuration that includes
// their users.conf, and TLS. Every daemon and verb connects with its own
// role's seed.
type securedBus struct {
	people []string
	// dir holds the seeds and users.conf; config is the server's file.
	dir, config string
	tls         bustest.TLSFiles
}

// newSecuredBus makes the TLS files of a secured bus whose people are
// people; the first one is the test's own event watcher.
func newSecuredBus(t *testing.T, people ...string) *securedBus {
	t.Helper()
	if len(people) == 0 {
		t.Fatal("a secured bus needs a person to watch its events")
	}
	return &securedBus{people: people, tls: bustest.NewTLSFiles(t)}
}

// configure generates the identities of hosts, the people and the
// services with `nooper credentials` into dir, and writes the server's
// configuration including them, with TLS.
func (s *securedBus) configure(t *testing.T, dir string, hosts []string) {
	t.Helper()
	s.dir = filepath.Join(dir, "credentials")
	args := []string{"credentials", "--dir", s.dir, "--services"}
	for _, h := range hosts {
		args = append(args, "--host", h)
	}
	for _, p := range s.people {
		args = append(args, "--person", p)
	}
	out := run(t, dir, filepath.Join(binaries(t), "nooper"), args...)
	if want := fmt.Sprintf("%d identities", len(hosts)+len(s.people)+len(credentials.Services)); !strings.Contains(out, want) {
		t.Fatalf("nooper credentials: %s, want %s", out, want)
	}
	s.config = filepath.Join(dir, "server.conf")
	conf := fmt.Sprintf("include \"credentials/%s\"\ntls { cert_file: %q, key_file: %q }\n", credentials.UsersFile, s.tls.Cert, s.tls.Key)
	if err := os.WriteFile(s.config, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
}

// seed is the seed file of role's identity name.
func (s *securedBus) seed(role credentials.Role, name string) string {
	return credentials.SeedFile(s.dir, role, name)
}

// watcherLogin is the person whose identity watches the events.
func (s *securedBus) watcherLogin() string {
	if s == nil {
		return ""
	}
	return s.people[0]
}

// options connect to url as role's identity name, over TLS; onErr is told
// the asynchronous errors the server sends, permissions violations among
// them.
func (s *securedBus) options(url string, role credentials.Role, name string, onErr func(error)) bus.Options {
	return bus.Options{
		URL: url, Name: strings.TrimSpace("e2e " + string(role) + " " + name), CredsFile: s.seed(role, name),
		TLSCA: s.tls.CA, Log: zerolog.Nop(), OnAsyncError: onErr,
	}
}

// asyncErrors are the asynchronous errors one connection got.
type asyncErrors struct {
	mu   sync.Mutex
	errs []string
}

func (a *asyncErrors) record(err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.errs = append(a.errs, err.Error())
}

// has tells whether an error mentioning every one of words was received.
func (a *asyncErrors) has(words ...string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, e := range a.errs {
		all := true
		for _, w := range words {
			all = all && strings.Contains(strings.ToLower(e), strings.ToLower(w))
		}
		if all {
			return true
		}
	}
	return false
}

func (a *asyncErrors) String() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return strings.Join(a.errs, "\n")
}

// dialRecording connects the test as role's identity name on the fleet's
// secured bus, recording the asynchronous errors the server sends it.
func (f *fleet) dialRecording(t *testing.T, role credentials.Role, name string) (*bus.Conn, *asyncErrors) {
	t.Helper()
	errs := &asyncErrors{}
	return connectWith(t, f.secured.options(f.url, role, name, errs.record)), errs
}
