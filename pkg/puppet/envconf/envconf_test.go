package envconf

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// The expectations were checked against Puppet 7.23 with
// `puppet config print manifest modulepath --environment test`.
func TestParse(t *testing.T) {
	tests := []struct {
		name        string
		conf        string
		manifest    string
		manifestSet bool
		modules     []string
		modulesSet  bool
		ignored     []string // substrings, one per Ignored line
	}{
		{
			name: "missing or empty", conf: "",
			manifest: "manifests", modules: []string{"modules"},
		},
		{
			name:     "manifest and modulepath",
			conf:     "# where the code is\nmanifest = nodes\nmodulepath = site:modules:$basemodulepath\n",
			manifest: "nodes", manifestSet: true,
			modules: []string{"site", "modules", "$basemodulepath"}, modulesSet: true,
		},
		{
			name:     "Puppet's own example",
			conf:     "modulepath = site:dist:modules:$basemodulepath\n\nconfig_version = get_environment_commit.sh\n",
			manifest: "manifests",
			modules:  []string{"site", "dist", "modules", "$basemodulepath"}, modulesSet: true,
		},
		{
			name:     "spacing, tabs, CRLF and quotes",
			conf:     "  # c\r\n\tmanifest\t=\t\"site.pp\" \r\nmodulepath='site'\r\n",
			manifest: "site.pp", manifestSet: true,
			modules: []string{"site"}, modulesSet: true,
		},
		{
			name:     "a # after the value is part of it",
			conf:     "manifest = nodes # the node files\n",
			manifest: "nodes # the node files", manifestSet: true,
			modules: []string{"modules"},
		},
		{
			name:     "the first of two settings wins",
			conf:     "manifest = a\nmanifest = b\n",
			manifest: "a", manifestSet: true, modules: []string{"modules"},
		},
		{
			name:     "an explicit [main] section",
			conf:     "[main]\nmanifest = x\n",
			manifest: "x", manifestSet: true, modules: []string{"modules"},
		},
		{
			name:     "another section is ignored",
			conf:     "manifest = x\n[server]\nmodulepath = y\n",
			manifest: "x", manifestSet: true, modules: []string{"modules"},
			ignored: []string{"line 3: modulepath is in section [server]"},
		},
		{
			name:     "an unknown setting is ignored",
			conf:     "foo = bar\nmanifest=y\n",
			manifest: "y", manifestSet: true, modules: []string{"modules"},
			ignored: []string{"line 1: unknown setting foo"},
		},
		{
			name:     "file metadata is removed",
			conf:     "manifest = x {owner = root, mode = 0644}\n",
			manifest: "x", manifestSet: true, modules: []string{"modules"},
		},
		{
			name:     "absolute and outside paths, empty entries dropped",
			conf:     "manifest = /etc/puppet/site.pp\nmodulepath = ../up::site:\n",
			manifest: "/etc/puppet/site.pp", manifestSet: true,
			modules: []string{"../up", "site"}, modulesSet: true,
		},
		{
			name:     "an empty modulepath",
			conf:     "modulepath =\n",
			manifest: "manifests", modulesSet: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.conf))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if m, set := c.Manifest(); m != tt.manifest || set != tt.manifestSet {
				t.Errorf("Manifest() = %q, %v; want %q, %v", m, set, tt.manifest, tt.manifestSet)
			}
			if mp, set := c.ModulePath(); !slices.Equal(mp, tt.modules) || set != tt.modulesSet {
				t.Errorf("ModulePath() = %q, %v; want %q, %v", mp, set, tt.modules, tt.modulesSet)
			}
			if len(c.Ignored) != len(tt.ignored) {
				t.Fatalf("Ignored = %q, want %d lines like %q", c.Ignored, len(tt.ignored), tt.ignored)
			}
			for i, want := range tt.ignored {
				if !strings.Contains(c.Ignored[i], want) {
					t.Errorf("Ignored[%d] = %q, want it to say %q", i, c.Ignored[i], want)
				}
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	for name, conf := range map[string]string{
		"a line that is no setting": "manifest = x\ngarbage line\n",
		"a bad section":             "[main\n",
		"unknown file metadata":     "manifest = x {foo = root}\n",
		"a mode that is no number":  "manifest = x {mode = rw}\n",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Parse([]byte(conf))
			if !errors.Is(err, ErrSyntax) {
				t.Fatalf("Parse(%q) = %v, want ErrSyntax", conf, err)
			}
		})
	}
	_, err := Parse([]byte("manifest = x\ngarbage line\n"))
	if err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("error %v does not name line 2", err)
	}
}

func TestResolve(t *testing.T) {
	for _, tt := range []struct{ p, want string }{
		{"nodes", "/co/abc/nodes"},
		{"./site/", "/co/abc/site"},
		{"../shared", "/co/shared"},
		{"/etc/puppet/modules", "/etc/puppet/modules"},
		{"$basemodulepath", "$basemodulepath"},
		{"$codedir/modules", "$codedir/modules"},
	} {
		if got := Resolve("/co/abc", tt.p); got != tt.want {
			t.Errorf("Resolve(/co/abc, %q) = %q, want %q", tt.p, got, tt.want)
		}
	}
}

func TestInEnvironment(t *testing.T) {
	for _, tt := range []struct {
		p    string
		want string
		ok   bool
	}{
		{"nodes", "nodes", true},
		{"./nodes/", "nodes", true},
		{"manifests/site.pp", "manifests/site.pp", true},
		{"site/../modules", "modules", true},
		{".", "", false},
		{"", "", false},
		{"..", "", false},
		{"../shared", "", false},
		{"/etc/puppet/modules", "", false},
		{"$basemodulepath", "", false},
		{"~/modules", "", false},
	} {
		got, ok := InEnvironment(tt.p)
		if got != tt.want || ok != tt.ok {
			t.Errorf("InEnvironment(%q) = %q, %v; want %q, %v", tt.p, got, ok, tt.want, tt.ok)
		}
	}
}
