package credentials_test

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/balcony-dev/balcony/pkg/credentials"
)

var update = flag.Bool("update", false, "rewrite deploy/permissions.conf")

// deploy/permissions.conf is what the code grants, never a copy that
// drifted.
func TestDeployedPermissionsAreTheCode(t *testing.T) {
	path := filepath.Join("..", "..", "deploy", "permissions.conf")
	want := credentials.Reference()
	if *update {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("deploy/permissions.conf differs from pkg/credentials: run go test ./pkg/credentials -update")
	}
}

// Generating again keeps every seed, adds the new identities, and writes
// a users.conf that nats-server reads with the sample server config.
func TestGenerateKeepsSeeds(t *testing.T) {
	dir := t.TempDir()
	creds := filepath.Join(dir, "credentials")
	first, err := credentials.Generate(credentials.Spec{Dir: creds, Hosts: []string{"a.example.com"}, Services: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != 1+len(credentials.Services) {
		t.Fatalf("%d identities", len(first))
	}
	second, err := credentials.Generate(credentials.Spec{Dir: creds, Hosts: []string{"b.example.com"}, People: []string{"kermit"}})
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]string{}
	for _, id := range second {
		keys[string(id.Role)+" "+id.Name] = id.Public
	}
	for _, id := range first {
		if keys[string(id.Role)+" "+id.Name] != id.Public {
			t.Errorf("%s %s: key changed or dropped", id.Role, id.Name)
		}
	}
	if len(second) != len(first)+2 {
		t.Errorf("%d identities after adding two, want %d", len(second), len(first)+2)
	}
	info, err := os.Stat(credentials.SeedFile(creds, credentials.Agent, "a.example.com"))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("seed file: %v %v", info, err)
	}
	sample, err := os.ReadFile(filepath.Join("..", "..", "deploy", "balcony-server.conf"))
	if err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "server.conf")
	if err := os.WriteFile(conf, sample, 0o600); err != nil {
		t.Fatal(err)
	}
	opts, err := server.ProcessConfigFile(conf)
	if err != nil {
		t.Fatalf("nats-server reads the sample config with the users: %v", err)
	}
	if len(opts.Nkeys) != len(second) {
		t.Errorf("server has %d nkey users, want %d", len(opts.Nkeys), len(second))
	}
	for _, bad := range []credentials.Spec{
		{Dir: creds, Hosts: []string{"Not_A_Host"}},
		{Dir: creds, People: []string{"a.b"}},
	} {
		if _, err := credentials.Generate(bad); err == nil || !strings.Contains(err.Error(), "") {
			t.Errorf("Generate(%+v) accepted", bad)
		}
	}
}
