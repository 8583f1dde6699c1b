package owners

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The owners of a module are those of the last rule covering every file
// in its directory.
func TestModuleOwners(t *testing.T) {
	tests := []struct {
		name       string
		codeowners string
		want       string // pattern of the rule giving the module's owners
	}{
		{"catch-all", "* @a", "*"},
		{"double-star", "** @a", "**"},
		{"anchored directory", "* @a\n/modules/motd/ @b", "/modules/motd/"},
		{"anchored without slash", "* @a\n/modules/motd @b", "/modules/motd"},
		{"unanchored directory name", "* @a\nmotd/ @b", "motd/"},
		{"ancestor directory", "* @a\n/modules/ @b", "/modules/"},
		{"modules/** covers all modules", "* @a\nmodules/** @b", "modules/**"},
		{"wildcard module name", "* @a\n/modules/mo?d/ @b", "/modules/mo?d/"},
		{"file-name pattern is not the module", "/modules/motd/ @b\n*.pp @c", "/modules/motd/"},
		{"a subdirectory is not the module", "/modules/motd/ @b\n/modules/motd/manifests/ @c", "/modules/motd/"},
		{"the top level only is not the module", "/modules/motd/ @b\n/modules/motd/* @c", "/modules/motd/"},
		{"one level of modules only is not the module", "/modules/motd/ @b\nmodules/* @c", "/modules/motd/"},
		{"one file is not the module", "/modules/motd/ @b\n/modules/motd/manifests/init.pp @c", "/modules/motd/"},
		{"other module", "/modules/motd2/ @b", ""},
		{"later rule with no owner wins", "/modules/motd/ @b\n/modules/motd/", "/modules/motd/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := New(Input{CodeOwners: map[string][]byte{"CODEOWNERS": []byte(tt.codeowners + "\n")}})
			if err != nil {
				t.Fatal(err)
			}
			got := m.OwnersOf(group("g", "modules/motd/manifests/init.pp", "h")).Module
			if got.Path != "modules/motd/" || got.Pattern != tt.want {
				t.Errorf("module ownership = %+v, want pattern %q", got, tt.want)
			}
		})
	}
	// The last rule wins even when it names nobody.
	m, _ := New(Input{CodeOwners: map[string][]byte{"CODEOWNERS": []byte("/modules/motd/ @b\n/modules/motd/\n")}})
	got := m.OwnersOf(group("g", "modules/motd/files/x", "h")).Module
	if diff := cmp.Diff(Ownership{Path: "modules/motd/", Pattern: "/modules/motd/", Line: 2}, got); diff != "" {
		t.Errorf("mismatch (-want +got):\n%s", diff)
	}
}

func TestModuleDirs(t *testing.T) {
	m, err := New(Input{
		ModuleDirs: []string{"site", "modules/"},
		CodeOwners: map[string][]byte{"CODEOWNERS": []byte("/site/profile/ @p\n/modules/ @m\n")},
	})
	if err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{
		"site/profile/manifests/web.pp": "site/profile/",
		"modules/ntp/manifests/init.pp": "modules/ntp/",
		"modules/README.md":             "",
		"manifests/site.pp":             "",
		"siteX/a/b.pp":                  "",
	} {
		if got := m.OwnersOf(group("g", file, "h")).Module.Path; got != want {
			t.Errorf("module of %s = %q, want %q", file, got, want)
		}
	}
}
