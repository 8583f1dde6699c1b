package owners

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestNodeMatching(t *testing.T) {
	m := testModel(t)
	tests := []struct {
		name string
		host string
		want Node
	}{
		{"single-quoted exact name", "statler.example.com", Node{File: "manifests/nodes/statler.pp", Line: 1, Name: "statler.example.com"}},
		{"names compare lower-cased", "Statler.Example.COM", Node{File: "manifests/nodes/statler.pp", Line: 1, Name: "statler.example.com"}},
		{"double-quoted first of a list", "waldorf.example.com", Node{File: "manifests/nodes/waldorf.pp", Line: 2, Name: "waldorf.example.com"}},
		{"second of a list", "balcony.example.com", Node{File: "manifests/nodes/waldorf.pp", Line: 2, Name: "balcony.example.com"}},
		{"exact beats a regex, even one earlier in the file", "web01.example.com", Node{File: "manifests/nodes/web.pp", Line: 10, Name: "web01.example.com"}},
		{"regex", "web02.example.com", Node{File: "manifests/nodes/web.pp", Line: 2, Name: `/^web\d+\.example\.com$/`}},
		{"first regex in file order", "webmail.example.com", Node{File: "manifests/nodes/web.pp", Line: 6, Name: "/^web/"}},
		{"regexes of earlier files first", "web90.example.com", Node{File: "manifests/nodes/beaker.pp", Line: 2, Name: `/^web9\d/`}},
		{"exact name after a regex in a list", "beaker.example.com", Node{File: "manifests/nodes/beaker.pp", Line: 2, Name: "beaker.example.com"}},
		{"regex beats default", "gonzo.example.com", Node{File: "manifests/site.pp", Line: 17, Name: "default"}},
		{"comment is no statement", "commented.example.com", Node{File: "manifests/site.pp", Line: 17, Name: "default"}},
		{"block comment is no statement", "block-comment.example.com", Node{File: "manifests/site.pp", Line: 17, Name: "default"}},
		{"string is no statement", "in-a-string.example.com", Node{File: "manifests/site.pp", Line: 17, Name: "default"}},
		{"heredoc is no statement", "in-a-heredoc.example.com", Node{File: "manifests/site.pp", Line: 17, Name: "default"}},
		{"attribute named node is no statement", "not-a-node.example.com", Node{File: "manifests/site.pp", Line: 17, Name: "default"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := m.Node(tt.host)
			if !ok {
				t.Fatalf("Node(%q): no match", tt.host)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Node(%q) mismatch (-want +got):\n%s", tt.host, diff)
			}
		})
	}
}

func TestNodeStatements(t *testing.T) {
	type name struct {
		Line int
		Name string
		Kind string
	}
	kinds := map[tokKind]string{tokString: "name", tokRegex: "regex", tokWord: "default"}
	tests := []struct {
		name    string
		src     string
		want    []name
		wantErr string
	}{
		{"bareword dotted name", "node web01.example.com { }", []name{{1, "web01.example.com", "name"}}, ""},
		{"quoted default is default", "node 'default' {}", []name{{1, "default", "default"}}, ""},
		{"list across lines with trailing comma", "node 'a',\n  \"b\",\n  /c/, {\n}", []name{{1, "a", "name"}, {2, "b", "name"}, {3, "c", "regex"}}, ""},
		{"escaped slash in regex", `node /^a\/b$/ {}`, []name{{1, `^a/b$`, "regex"}}, ""},
		{"escaped quote in name", `node 'it\'s' {}`, []name{{1, "it's", "name"}}, ""},
		{"division is not a regex", "$x = $y / 2 / 3\nnode 'n' {}", []name{{2, "n", "name"}}, ""},
		{"regex match operand skipped", "if $x =~ /node 'r'/ { }\nnode 'n' {}", []name{{2, "n", "name"}}, ""},
		{"variable named node", "$node = 'x'\n$facts.node\nnode 'n' {}", []name{{3, "n", "name"}}, ""},
		{"interpolation with quotes", "$m = \"${h['node']} \\\" node 'q' {\"\nnode 'n' {}", []name{{2, "n", "name"}}, ""},
		{"heredoc body skipped", "$m = @(EOT)\n  node 'h' {}\n  EOT\nnode 'n' {}", []name{{4, "n", "name"}}, ""},
		{"heredoc with syntax and dash", "$m = @(EOT:json)\nnode 'h' {}\n|- EOT\nnode 'n' {}", []name{{4, "n", "name"}}, ""},
		{"crlf and comments", "# node 'c' {}\r\nnode 'n' { # node 'd'\r\n}\r\n", []name{{2, "n", "name"}}, ""},
		{"variable as name", "node $x {}", nil, "line 1: node statement: unexpected \"x\" where a node name belongs"},
		{"missing brace", "node 'a' 'b' {}", []name{{1, "a", "name"}}, "line 1: node statement started on line 1: expected \",\" or \"{\", got \"b\""},
		{"unterminated string", "node 'a {}", nil, "line 1: unterminated string"},
		{"unterminated comment", "node 'a' {} /* x", []name{{1, "a", "name"}}, "line 1: unterminated comment"},
		{"unterminated heredoc", "$m = @(EOT)\nnode 'h' {}\n", nil, "line 3: unterminated heredoc \"EOT\""},
		{"statement cut short", "node 'a',", []name{{1, "a", "name"}}, "line 1: node statement: unexpected end of file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stmts, err := nodeStatements(tt.src)
			var got []name
			for _, s := range stmts {
				got = append(got, name{s.Line, s.Name, kinds[s.kind]})
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("names mismatch (-want +got):\n%s", diff)
			}
			gotErr := ""
			if err != nil {
				gotErr = err.Error()
			}
			if gotErr != tt.wantErr {
				t.Errorf("error = %q, want %q", gotErr, tt.wantErr)
			}
		})
	}
}

func TestNodeProblems(t *testing.T) {
	tests := []struct {
		name      string
		manifests map[string]string
		dirs      []string
		hosts     map[string]string // host → node file, "" when unknown
		problems  []string
	}{{
		name: "regex Go cannot compile blocks the hosts that reach it",
		manifests: map[string]string{
			"manifests/a.pp": "node /^db/ {}\nnode /^(?!web)/ {}\nnode /^web/ {}\nnode 'x.example.com' {}\nnode default {}",
		},
		hosts: map[string]string{"db1": "manifests/a.pp", "x.example.com": "manifests/a.pp", "web1": "", "other": ""},
		problems: []string{"node statement problem: manifests/a.pp:2: node /^(?!web)/: Go cannot compile this Ruby regex " +
			"(rewrite it in the common subset): error parsing regexp: invalid or unsupported Perl syntax: `(?!`"},
	}, {
		name: "unreadable manifest makes every host unknown",
		manifests: map[string]string{
			"manifests/a.pp": "node 'a' {}",
			"manifests/b.pp": "node 'b {}",
		},
		hosts:    map[string]string{"a": "", "b": ""},
		problems: []string{"node statement problem: manifests/b.pp: line 1: unterminated string"},
	}, {
		name: "duplicates keep the first; only .pp files in the manifest dirs are read",
		manifests: map[string]string{
			"manifests/a.pp":       "node 'a', default {}",
			"manifests/b.pp":       "node 'A' {}\nnode default {}",
			"manifests/README.md":  "node 'readme' {}",
			"modules/x/init.pp":    "node 'module' {}",
			"site/nodes/extra.pp":  "node 'extra' {}",
			"manifestsX/ignore.pp": "node 'prefix' {}",
		},
		dirs:  []string{"manifests", "site/nodes/extra.pp"},
		hosts: map[string]string{"a": "manifests/a.pp", "extra": "site/nodes/extra.pp", "readme": "manifests/a.pp", "module": "manifests/a.pp", "prefix": "manifests/a.pp"},
		problems: []string{
			`node statement problem: manifests/b.pp:1: node "A" is already defined at manifests/a.pp:1`,
			"node statement problem: manifests/b.pp:2: node default is already defined at manifests/a.pp:1",
		},
	}, {
		name:      "no node statement at all",
		manifests: map[string]string{"manifests/site.pp": "include base"},
		hosts:     map[string]string{"a": ""},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := Input{Manifests: map[string][]byte{}, ManifestDirs: tt.dirs}
			for p, c := range tt.manifests {
				in.Manifests[p] = []byte(c)
			}
			m, err := New(in)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for h := range tt.hosts {
				n, ok := m.Node(h)
				if ok == (n.File == "") {
					t.Errorf("Node(%q) = %+v, %v: ok must say whether a file was found", h, n, ok)
				}
				got[h] = n.File
			}
			if diff := cmp.Diff(tt.hosts, got); diff != "" {
				t.Errorf("node files mismatch (-want +got):\n%s", diff)
			}
			var problems []string
			for _, p := range m.Problems() {
				if !errors.Is(p, ErrManifest) {
					t.Errorf("problem %v is not ErrManifest", p)
				}
				problems = append(problems, p.Error())
			}
			if diff := cmp.Diff(tt.problems, problems); diff != "" {
				t.Errorf("problems mismatch (-want +got):\n%s", diff)
			}
			// Owners of a host with no known node file: nobody.
			for h, f := range tt.hosts {
				if f == "" {
					nodes := m.OwnersOf(group("g", "", h)).Nodes
					want := []NodeOwners{{Hosts: []string{h}}}
					if diff := cmp.Diff(want, nodes); diff != "" {
						t.Errorf("OwnersOf unknown host mismatch:\n%s", diff)
					}
				}
			}
		})
	}
}

// TestNodeMatchingShortNames: Puppet 7 (strict_hostname_checking off)
// also tries the names made by dropping labels, each with exact names then
// regexes, before default; Puppet 8's strict mode tries the full name only.
func TestNodeMatchingShortNames(t *testing.T) {
	manifests := map[string][]byte{
		"manifests/site.pp": []byte(`node 'fozzie' {}
node /^animal\.example$/ {}
node 'animal' {}
node 'kermit.example.com' {}
node /^kermit/ {}
node default {}
`),
	}
	tests := []struct {
		host   string
		strict bool
		want   string
	}{
		{"fozzie.example.com", false, "fozzie"},
		{"fozzie.example.com", true, "default"},
		{"animal.example.com", false, `/^animal\.example$/`}, // the longer name's regex before the shorter exact name
		{"kermit.example.com", false, "kermit.example.com"},
		{"kermit.muppets.example", false, "/^kermit/"},
		{"gonzo.example.com", false, "default"},
	}
	for _, tt := range tests {
		m, err := New(Input{Manifests: manifests, StrictHostnames: tt.strict})
		if err != nil {
			t.Fatal(err)
		}
		got, ok := m.Node(tt.host)
		if !ok || got.Name != tt.want {
			t.Errorf("Node(%q) strict=%v = %q, %v; want %q", tt.host, tt.strict, got.Name, ok, tt.want)
		}
	}
}

func TestModelNodeStatements(t *testing.T) {
	for _, tt := range []struct {
		name      string
		manifests map[string]string
		dirs      []string
		want      int
	}{
		{"none", map[string]string{"manifests/site.pp": "include base"}, nil, 0},
		{"names, regexes and default", map[string]string{
			"manifests/a.pp": "node 'a', b.example.com {}\nnode /^web\\d+$/ {}\n",
			"manifests/b.pp": "node default {}\nnode 'A' {}\n", // A repeats a
		}, nil, 4},
		{"outside the manifest dirs", map[string]string{"nodes/a.pp": "node 'a' {}"}, nil, 0},
		{"in the manifest dirs given", map[string]string{"nodes/a.pp": "node 'a' {}"}, []string{"nodes"}, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in := Input{Manifests: map[string][]byte{}, ManifestDirs: tt.dirs}
			for p, c := range tt.manifests {
				in.Manifests[p] = []byte(c)
			}
			m, err := New(in)
			if err != nil {
				t.Fatal(err)
			}
			if got := m.NodeStatements(); got != tt.want {
				t.Errorf("NodeStatements() = %d, want %d", got, tt.want)
			}
		})
	}
}
