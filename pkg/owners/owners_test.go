package owners

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestOwnersOf(t *testing.T) {
	m := testModel(t)
	statler := NodeOwners{Ownership: Ownership{Path: "manifests/nodes/statler.pp", From: FromNodeStatement, Pattern: "/manifests/nodes/statler.pp", Line: 13,
		Owners: []string{"@statler"}, Logins: []string{"statler"}}, Hosts: []string{"statler.example.com"}}
	motdModule := Ownership{Path: "modules/motd/", From: FromSourceFile, Pattern: "/modules/motd/", Line: 6,
		Owners: []string{"@muppets/ops"}, Logins: []string{"animal", "scooter"}}
	tests := []struct {
		name  string
		file  string
		hosts []string
		want  GroupOwners
	}{{
		name: "last matching pattern wins for the file, module from its directory rule",
		file: "modules/motd/manifests/line.pp", hosts: []string{"statler.example.com"},
		want: GroupOwners{
			File: Ownership{Path: "modules/motd/manifests/line.pp", From: FromSourceFile, Pattern: "/modules/motd/manifests/line.pp", Line: 7,
				Owners: []string{"@fozzie"}, Logins: []string{"fozzie"}},
			Module: motdModule,
			Nodes:  []NodeOwners{statler},
		},
	}, {
		name: "the module rule, later than *.pp, owns the module's other files",
		file: "modules/motd/manifests/init.pp", hosts: []string{"statler.example.com"},
		want: GroupOwners{
			File:   Ownership{Path: "modules/motd/manifests/init.pp", From: FromSourceFile, Pattern: "/modules/motd/", Line: 6, Owners: []string{"@muppets/ops"}, Logins: []string{"animal", "scooter"}},
			Module: motdModule,
			Nodes:  []NodeOwners{statler},
		},
	}, {
		name: "a last rule with no owner leaves the file unowned",
		file: "modules/motd/templates/motd.erb", hosts: []string{"statler.example.com"},
		want: GroupOwners{
			File:   Ownership{Path: "modules/motd/templates/motd.erb", From: FromSourceFile, Pattern: "/modules/motd/templates/", Line: 9},
			Module: motdModule,
			Nodes:  []NodeOwners{statler},
		},
	}, {
		name: "a subdirectory rule does not own the module; login normalised",
		file: "modules/ntp/manifests/init.pp", hosts: []string{"web02.example.com", "statler.example.com"},
		want: GroupOwners{
			File:   Ownership{Path: "modules/ntp/manifests/init.pp", From: FromSourceFile, Pattern: "/modules/ntp/manifests/", Line: 11, Owners: []string{"@sam"}, Logins: []string{"sam"}},
			Module: Ownership{Path: "modules/ntp/", From: FromSourceFile, Pattern: "/modules/ntp/", Line: 10, Owners: []string{"@Rowlf"}, Logins: []string{"rowlf"}},
			Nodes: []NodeOwners{statler, {Ownership: Ownership{Path: "manifests/nodes/web.pp", From: FromNodeStatement, Pattern: "/manifests/nodes/web.pp", Line: 15,
				Owners: []string{"@swedish-chef"}, Logins: []string{"swedish-chef"}}, Hosts: []string{"web02.example.com"}}},
		},
	}, {
		name: "a module with no rule of its own falls to the catch-all team",
		file: "./modules/apache/manifests/init.pp", hosts: []string{"beaker.example.com"},
		want: GroupOwners{
			File:   Ownership{Path: "modules/apache/manifests/init.pp", From: FromSourceFile, Pattern: "*.pp", Line: 5, Owners: []string{"@gonzo"}, Logins: []string{"gonzo"}},
			Module: Ownership{Path: "modules/apache/", From: FromSourceFile, Pattern: "*", Line: 4, Owners: []string{"@muppets/core"}, Logins: []string{"kermit", "piggy"}},
			Nodes: []NodeOwners{{Ownership: Ownership{Path: "manifests/nodes/beaker.pp", From: FromNodeStatement, Pattern: "/manifests/nodes/beaker.pp", Line: 16,
				Owners: []string{"beaker@muppets.org"}, Logins: []string{"beaker"}}, Hosts: []string{"beaker.example.com"}}},
		},
	}, {
		name: "site.pp is no module; hosts sharing a node file are listed together",
		file: "manifests/site.pp", hosts: []string{"gonzo.example.com", "rizzo.example.com"},
		want: GroupOwners{
			File: Ownership{Path: "manifests/site.pp", From: FromSourceFile, Pattern: "/manifests/site.pp", Line: 12, Owners: []string{"@kermit"}, Logins: []string{"kermit"}},
			Nodes: []NodeOwners{{Ownership: Ownership{Path: "manifests/site.pp", From: FromNodeStatement, Pattern: "/manifests/site.pp", Line: 12,
				Owners: []string{"@kermit"}, Logins: []string{"kermit"}}, Hosts: []string{"gonzo.example.com", "rizzo.example.com"}}},
		},
	}, {
		name: "no source file: only node owners",
		file: "", hosts: []string{"statler.example.com"},
		want: GroupOwners{Nodes: []NodeOwners{statler}},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := m.OwnersOf(group("g", tt.file, tt.hosts...))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("OwnersOf(%q) mismatch (-want +got):\n%s", tt.file, diff)
			}
		})
	}
}

func TestCodeOwnersLocation(t *testing.T) {
	tests := []struct {
		name  string
		paths []string
		want  string
	}{
		{"none", nil, ""},
		{"docs only", []string{"docs/CODEOWNERS"}, "docs/CODEOWNERS"},
		{"root before docs", []string{"docs/CODEOWNERS", "CODEOWNERS"}, "CODEOWNERS"},
		{".github first", []string{"docs/CODEOWNERS", "CODEOWNERS", ".github/CODEOWNERS"}, ".github/CODEOWNERS"},
		{"other paths ignored", []string{"modules/CODEOWNERS"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := map[string][]byte{}
			for _, p := range tt.paths {
				files[p] = []byte("* @" + p[:1] + "\n")
			}
			m, err := New(Input{CodeOwners: files})
			if err != nil {
				t.Fatal(err)
			}
			if got := m.CodeOwnersFile(); got != tt.want {
				t.Errorf("CodeOwnersFile() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestCodeOwnersProblems(t *testing.T) {
	m, err := New(Input{
		CodeOwners: map[string][]byte{".github/CODEOWNERS": []byte(
			"* @kermit\n" +
				"/modules/bad[ @gonzo\n" + // invalid character: the line is skipped
				"/modules/ghost/ @muppets/ghosts nobody@example.com\n")},
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range m.Problems() {
		if !errors.Is(p, ErrCodeOwners) {
			t.Errorf("problem %v is not ErrCodeOwners", p)
		}
		got = append(got, p.Error())
	}
	want := []string{
		"CODEOWNERS problem: .github/CODEOWNERS:2: line skipped: unexpected character '[' at position 13",
		"CODEOWNERS problem: .github/CODEOWNERS:3: owner @muppets/ghosts has no known login or members",
		"CODEOWNERS problem: .github/CODEOWNERS:3: owner nobody@example.com has no known login or members",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Problems() mismatch (-want +got):\n%s", diff)
	}
	// The skipped line does not stop the others from applying.
	if o := m.OwnersOf(group("g", "modules/bad[/x.pp")).File; !cmp.Equal(o.Logins, []string{"kermit"}) {
		t.Errorf("owners of a path of the skipped rule = %v, want the catch-all's", o.Logins)
	}
}

func TestNewRejectsBadInput(t *testing.T) {
	tests := []struct {
		name string
		in   Input
	}{
		{"absolute manifest dir", Input{ManifestDirs: []string{"/etc/puppet"}}},
		{"module dir outside", Input{ModuleDirs: []string{"../modules"}}},
		{"team without org", Input{Teams: map[string][]string{"ops": {"a"}}}},
		{"empty admin", Input{Admins: []string{"@"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.in); !errors.Is(err, ErrInput) {
				t.Errorf("New() error = %v, want ErrInput", err)
			}
		})
	}
}

func TestIdentities(t *testing.T) {
	m := testModel(t)
	logins := []struct{ email, login string }{
		{"KERMIT@muppets.example", "kermit"},
		{" fozzie@muppets.example ", "fozzie"},
		{"12345+Scooter@users.noreply.github.com", "scooter"},
		{"animal@users.noreply.github.com", "animal"},
		{"stranger@example.com", ""},
	}
	for _, l := range logins {
		if got, _ := m.Login(l.email); got != l.login {
			t.Errorf("Login(%q) = %q, want %q", l.email, got, l.login)
		}
	}
	if got := Normalize(" @Swedish-Chef "); got != "swedish-chef" {
		t.Errorf("Normalize = %q", got)
	}
	if !m.IsAdmin("@BUNSEN") || m.IsAdmin("kermit") {
		t.Error("IsAdmin: want bunsen only")
	}
	msg := "Fix motd\n\nco-authored-by: Miss Piggy <Piggy@Muppets.example>\nCo-Authored-By: Scooter <1+scooter@users.noreply.github.com>\nSigned-off-by: Kermit <kermit@muppets.example>\n"
	want := []string{"piggy@muppets.example", "1+scooter@users.noreply.github.com"}
	if diff := cmp.Diff(want, CoAuthors(msg)); diff != "" {
		t.Errorf("CoAuthors mismatch (-want +got):\n%s", diff)
	}
}
