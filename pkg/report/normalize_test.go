package report

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestMessage(t *testing.T) {
	n := newNormalizer(ParseOptions{CodeDir: "/c/r1/", HostRoot: "/c/hosts/h1"})
	tests := []struct{ in, want string }{
		{"Would have triggered 'refresh' from 1 event", "Would have triggered 'refresh' from 1 event"},
		{"Evaluation Error: x (file: /c/r1/manifests/site.pp, line: 3, column: 4) on node h1.example.com", "Evaluation Error: x (file: manifests/site.pp)"},
		{"Unknown resource (line: 12)", "Unknown resource"},
		{"at /c/r1/modules/a/manifests/init.pp:9:2", "at modules/a/manifests/init.pp"},
		{"could not write /c/hosts/h1/etc/x", "could not write /etc/x"},
		{"  padded  ", "padded"},
	}
	for _, tt := range tests {
		if got := n.message(tt.in); got != tt.want {
			t.Errorf("message(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestRenderValue(t *testing.T) {
	tests := []struct {
		in   any
		want string
	}{
		{nil, ""},
		{"file", "file"},
		{"e3NoYTI1Nn05OGVhNmU0ZjIxNmYyZmI0YjY5ZmZmOWIzYTQ0ODQyYzM4Njg2Y2E2ODVmM2Y1NWRjNDhjNWQzZmIxMTA3YmU0", "{sha256}98ea6e4f216f2fb4b69fff9b3a44842c38686ca685f3f55dc48c5d3fb1107be4"},
		{"aGVsbG8gd29ybGQgaGVsbG8gd29ybGQ=", "aGVsbG8gd29ybGQgaGVsbG8gd29ybGQ="}, // base64, not a checksum
		{[]any{"0"}, "['0']"},
		{[]any{"it's", 2, true}, `['it\'s', 2, true]`},
		{map[string]any{"b": "x", "a": []any{}}, "{'a' => [], 'b' => 'x'}"},
		{1.5, "1.5"},
		{7, "7"},
	}
	for _, tt := range tests {
		if got := renderValue(tt.in); got != tt.want {
			t.Errorf("renderValue(%#v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestDefineType(t *testing.T) {
	tests := []struct {
		path []string
		want string
	}{
		{[]string{"Stage[main]", "Motd", "Motd::Line[one]", "File[/x]"}, "Motd::Line[one]"},
		{[]string{"Stage[main]", "Main", "Node[default]", "File[/x]"}, ""},
		{[]string{"Stage[main]", "Apache", "Apache::Vhost[a/b]", "Concat[c]", "File[/x]"}, "Concat[c]"},
		{[]string{"Stage[main]", "Class[Foo]", "File[/x]"}, ""},
		{[]string{"File[/x]"}, ""},
	}
	for _, tt := range tests {
		if got := defineType(tt.path); got != tt.want {
			t.Errorf("defineType(%q) = %q, want %q", tt.path, got, tt.want)
		}
	}
}

func TestDiffHeaders(t *testing.T) {
	n := newNormalizer(ParseOptions{HostRoot: "/r/h"})
	in := "\n--- /r/h/etc/motd\t2026-11-26 06:33:54.971197233 +0000\n+++ /tmp/puppet-file20261126-7210-s6m21c\t2026-11-26 06:33:58.079197367 +0000\n@@ -1 +1 @@\n-old\n+hi"
	want := "--- /etc/motd\n+++ /etc/motd\n@@ -1 +1 @@\n-old\n+hi\n"
	if diff := cmp.Diff(want, n.diff(in)); diff != "" {
		t.Errorf("diff (-want +got):\n%s", diff)
	}
}

func TestUntagBinary(t *testing.T) {
	for in, want := range map[string]string{
		"aGk=":     "hi",
		"/w==":     "base64:/w==", // not UTF-8
		"not b64!": "not b64!",
	} {
		if got := decodeBinary(in); got != want {
			t.Errorf("decodeBinary(%q) = %q, want %q", in, got, want)
		}
	}
}
