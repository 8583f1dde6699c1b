package credentials

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/nats-io/nkeys"

	"github.com/balcony-dev/balcony/pkg/bus"
)

// UsersFile is the nats-server configuration Generate writes into its
// directory, for a server configuration to `include`.
const UsersFile = "users.conf"

// Identity is one bus user: its role, its name (the host, the login, or
// the role for a service), its nkey public key and its seed file.
type Identity struct {
	Role     Role
	Name     string
	Public   string
	SeedFile string
}

// Spec says which identities Generate makes.
type Spec struct {
	// Dir receives one seed file per identity (hosts/<host>.nk,
	// people/<login>.nk, services/<role>.nk) and UsersFile.
	Dir    string
	Hosts  []string
	People []string
	// Services makes the identities of every role in Services.
	Services bool
}

// dirOf is where the seeds of role are kept, under the spec's Dir.
func dirOf(role Role) string {
	switch role {
	case Agent:
		return "hosts"
	case Person:
		return "people"
	default:
		return "services"
	}
}

// SeedFile is where Generate keeps the seed of role's identity name.
func SeedFile(dir string, role Role, name string) string {
	if role != Agent && role != Person {
		name = string(role)
	}
	return filepath.Join(dir, dirOf(role), name+".nk")
}

// Generate writes a seed for each identity of spec that has none yet (an
// existing seed is kept: running it again, or with more hosts, changes
// no credential already handed out), then UsersFile with every identity
// whose seed is in Dir, those of earlier runs included. It returns them,
// sorted by role and name.
func Generate(spec Spec) ([]Identity, error) {
	want := map[string][2]string{} // seed file -> role, name
	add := func(role Role, name string) error {
		if _, err := For(role, name, "U"); err != nil {
			return err
		}
		want[SeedFile(spec.Dir, role, name)] = [2]string{string(role), name}
		return nil
	}
	for _, h := range spec.Hosts {
		if err := add(Agent, h); err != nil {
			return nil, err
		}
	}
	for _, p := range spec.People {
		if err := add(Person, p); err != nil {
			return nil, err
		}
	}
	if spec.Services {
		for _, r := range Services {
			if err := add(r, string(r)); err != nil {
				return nil, err
			}
		}
	}
	for file := range want {
		if err := ensureSeed(file); err != nil {
			return nil, err
		}
	}
	ids, err := Load(spec.Dir)
	if err != nil {
		return nil, err
	}
	conf, err := UsersConfig(ids)
	if err != nil {
		return nil, err
	}
	if err := writeFile(filepath.Join(spec.Dir, UsersFile), []byte(conf), 0o600); err != nil {
		return nil, err
	}
	return ids, nil
}

// ensureSeed creates a user nkey seed in file unless it exists.
func ensureSeed(file string) error {
	if _, err := os.Stat(file); err == nil {
		return nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return err
	}
	kp, err := nkeys.CreateUser()
	if err != nil {
		return err
	}
	defer kp.Wipe()
	seed, err := kp.Seed()
	if err != nil {
		return err
	}
	return writeFile(file, append(seed, '\n'), 0o600)
}

// writeFile writes data to path atomically.
func writeFile(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path))
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// Load reads the identities whose seeds are in dir, as Generate lays
// them out.
func Load(dir string) ([]Identity, error) {
	var ids []Identity
	for _, sub := range []string{"services", "hosts", "people"} {
		files, err := filepath.Glob(filepath.Join(dir, sub, "*.nk"))
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			name := strings.TrimSuffix(filepath.Base(f), ".nk")
			role := Role(name)
			switch sub {
			case "hosts":
				role = Agent
			case "people":
				role = Person
			}
			pub, _, err := bus.ReadUserKey(f)
			if err != nil {
				return nil, err
			}
			if _, err := For(role, name, pub); err != nil {
				return nil, fmt.Errorf("%s: %w", f, err)
			}
			ids = append(ids, Identity{Role: role, Name: name, Public: pub, SeedFile: f})
		}
	}
	sort.Slice(ids, func(i, j int) bool {
		if ids[i].Role != ids[j].Role {
			return ids[i].Role < ids[j].Role
		}
		return ids[i].Name < ids[j].Name
	})
	return ids, nil
}

// UsersConfig is the nats-server configuration of ids: an authorization
// block with each identity's nkey and its role's permissions, for a
// server configuration to include (deploy/balcony-server.conf).
func UsersConfig(ids []Identity) (string, error) {
	var b strings.Builder
	b.WriteString("# balcony's bus users, written by 'nooper credentials': one nkey per identity\n")
	b.WriteString("# with its role's permissions (docs/security.md). Include it from the server's\n")
	b.WriteString("# configuration; do not edit: run the command again.\n")
	b.WriteString("authorization {\n  users = [\n")
	for _, id := range ids {
		p, err := For(id.Role, id.Name, id.Public)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "    # %s %s\n    { nkey: %s, permissions: %s }\n", id.Role, id.Name, id.Public, p.conf("      "))
	}
	b.WriteString("  ]\n}\n")
	return b.String(), nil
}

// conf is p in nats-server's configuration syntax.
func (p Permissions) conf(indent string) string {
	list := func(subjects []string) string {
		q := make([]string, len(subjects))
		for i, s := range subjects {
			q[i] = strconv.Quote(s)
		}
		return "[" + strings.Join(q, ", ") + "]"
	}
	var b strings.Builder
	b.WriteString("{\n")
	fmt.Fprintf(&b, "%s  publish: { allow: %s }\n", indent, list(p.Publish))
	fmt.Fprintf(&b, "%s  subscribe: { allow: %s }\n", indent, list(p.Subscribe))
	if p.AllowResponses {
		fmt.Fprintf(&b, "%s  allow_responses: true\n", indent)
	}
	b.WriteString(indent + "}")
	return b.String()
}

// Reference is the permission set of every role written out for
// deploy/permissions.conf: UsersConfig of one example identity per role,
// with a placeholder where each real public key goes.
func Reference() string {
	ids := []Identity{
		{Role: Agent, Name: "fozzie.example.com", Public: "UAGENT_OF_FOZZIE"},
		{Role: Person, Name: "kermit", Public: "UPERSON_KERMIT"},
	}
	for _, r := range Services {
		ids = append(ids, Identity{Role: r, Name: string(r), Public: "U" + strings.ToUpper(string(r))})
	}
	conf, err := UsersConfig(ids)
	if err != nil {
		panic(err) // the examples are valid
	}
	return "# Reference: the permissions of each role, as 'nooper credentials' writes them\n" +
		"# into users.conf with each identity's real nkey in place of U<ROLE>; the inbox\n" +
		"# _INBOX.<nkey> is each identity's own. Generated from pkg/credentials (a test\n" +
		"# keeps it equal): change the code, then `go test ./pkg/credentials -update`.\n" + conf
}
