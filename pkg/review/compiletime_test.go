package review_test

import (
	"slices"
	"testing"

	"github.com/balcony-dev/balcony/pkg/review"
)

func TestCompileTimeCode(t *testing.T) {
	site := "node default {\n  file { '/etc/motd': content => 'hi' }\n}\n"
	tests := []struct {
		name   string
		change review.FileChange
		want   []string
	}{
		{
			name: "file() of the host's shadow",
			change: review.FileChange{Path: "manifests/site.pp", Before: []byte(site),
				After: []byte("node default {\n  file { '/etc/motd': content => file('/etc/shadow') }\n}\n")},
			want: []string{"manifests/site.pp:2: file() of a path or variable reads the host during the noop"},
		},
		{
			name: "generate() in a new manifest",
			change: review.FileChange{Path: "modules/x/manifests/init.pp",
				After: []byte("class x {\n  $out = generate('/bin/sh', '-c', 'id')\n}\n")},
			want: []string{"modules/x/manifests/init.pp:2: generate() runs on every host during the noop"},
		},
		{
			name: "inline_template, a variable's file, template of an absolute path",
			change: review.FileChange{Path: "manifests/site.pp", Before: []byte(site), After: []byte(site +
				"$a = inline_template('<%= 1 %>')\n$b = file($path)\n$c = template(\"/etc/passwd\")\n")},
			want: []string{
				"manifests/site.pp:4: inline_template() runs on every host during the noop",
				"manifests/site.pp:5: file() of a path or variable reads the host during the noop",
				"manifests/site.pp:6: template() of a path or variable reads the host during the noop",
			},
		},
		{
			name: "calls already there, module templates and comments are not flagged",
			change: review.FileChange{Path: "manifests/site.pp",
				Before: []byte("$x = generate('/bin/true')\n"),
				After:  []byte("$x = generate('/bin/true')\n$t = template('motd/motd.erb')\n$f = file('motd/banner')\n# generate('/bin/sh')\n")},
		},
		{
			name:   "a new custom fact",
			change: review.FileChange{Path: "modules/base/lib/facter/role.rb", After: []byte("Facter.add(:role) { setcode { `id` } }\n")},
			want:   []string{"modules/base/lib/facter/role.rb: adds code in lib/facter, which runs on every host during the noop"},
		},
		{
			name:   "a changed Ruby function",
			change: review.FileChange{Path: "site/x/lib/puppet/functions/x/f.rb", Before: []byte("a"), After: []byte("b")},
			want:   []string{"site/x/lib/puppet/functions/x/f.rb: changes code in lib/puppet/functions, which runs on every host during the noop"},
		},
		{
			name:   "an environment's Puppet-language function",
			change: review.FileChange{Path: "functions/f.pp", After: []byte("function f() { 1 }\n")},
			want:   []string{"functions/f.pp: adds code in functions, which runs on every host during the noop"},
		},
		{
			name:   "a provider",
			change: review.FileChange{Path: "modules/x/lib/puppet/provider/y/z.rb", After: []byte("x")},
			want:   []string{"modules/x/lib/puppet/provider/y/z.rb: adds code in lib/puppet/provider, which runs on every host during the noop"},
		},
		{
			name: "Ruby in a template that runs a command",
			change: review.FileChange{Path: "modules/motd/templates/motd.erb", Before: []byte("Welcome to <%= @fqdn %>\n"),
				After: []byte("Welcome to <%= @fqdn %>\n<%= `cat /etc/shadow` %>\n<%= File.read('/etc/shadow') %>\n<%= @role %>\n")},
			want: []string{
				"modules/motd/templates/motd.erb:2: Ruby in a template that reaches the host, run on every host during the noop",
				"modules/motd/templates/motd.erb:3: Ruby in a template that reaches the host, run on every host during the noop",
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := review.CompileTimeCode([]review.FileChange{tc.change})
			if !slices.Equal(got, tc.want) {
				t.Errorf("CompileTimeCode =\n%q\nwant\n%q", got, tc.want)
			}
			if !review.CompileTimePath(tc.change.Path) {
				t.Errorf("CompileTimePath(%q) = false", tc.change.Path)
			}
		})
	}
	for _, p := range []string{"README.md", "CODEOWNERS", "data/common.yaml", "modules/x/files/f.sh"} {
		if review.CompileTimePath(p) {
			t.Errorf("CompileTimePath(%q) = true", p)
		}
	}
}
