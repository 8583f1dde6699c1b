package agent_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/protocol"
)

// secretsSite asks for noop => false on a file, and holds secrets in files
// that exist (their old content is secret too) and files that do not:
// Sensitive contents, show_diff => false contents, a Sensitive message.
// Every secret contains "SECRET-".
const secretsSite = `node default {
  $r = $facts['balcony_root']
  file { "${r}/etc/forced": content => "forced\n", noop => false }
  file { "${r}/etc/sensitive-old": content => Sensitive("SECRET-sensitive-new-1\n") }
  file { "${r}/etc/sensitive-new": content => Sensitive("SECRET-sensitive-new-2\n") }
  file { "${r}/etc/nodiff-old": content => "SECRET-nodiff-new-3\n", show_diff => false }
  file { "${r}/etc/nodiff-new": content => "SECRET-nodiff-new-4\n", show_diff => false }
  notify { 'a secret message': message => Sensitive('SECRET-notify-5') }
}
`

// TestPuppetExecutorForcesNoopAndKeepsSecrets runs real Puppet on
// secretsSite: the noop => false file is not created but is marked, and
// no secret is in the published result, encoded as the agent publishes it
// (msgpack) or as JSON. The forced catalog, which holds the secrets, is
// gone with the run's scratch directory.
func TestPuppetExecutorForcesNoopAndKeepsSecrets(t *testing.T) {
	t.Parallel()
	g := newExecRig(t, true)
	etc := filepath.Join(g.root, "etc")
	writeHostFile(t, filepath.Join(etc, "sensitive-old"), "SECRET-sensitive-old-6\n")
	writeHostFile(t, filepath.Join(etc, "nodiff-old"), "SECRET-nodiff-old-7\n")

	res := g.noop(t, g.secrets)
	if res.Outcome != protocol.OutcomeDone {
		t.Fatalf("outcome %s, errors %q", res.Outcome, res.Report.Errors)
	}
	for _, name := range []string{"forced", "sensitive-new", "nodiff-new"} {
		if _, err := os.Lstat(filepath.Join(etc, name)); !os.IsNotExist(err) {
			t.Errorf("the noop created %s (stat: %v)", name, err)
		}
	}
	for name, want := range map[string]string{"sensitive-old": "SECRET-sensitive-old-6\n", "nodiff-old": "SECRET-nodiff-old-7\n"} {
		if data, err := os.ReadFile(filepath.Join(etc, name)); err != nil || string(data) != want {
			t.Errorf("the noop changed %s: %q, %v", name, data, err)
		}
	}

	rep := res.Report
	if !slices.Equal(rep.NoopFalse, []string{"File[/etc/forced]"}) {
		t.Errorf("NoopFalse = %q, want File[/etc/forced]", rep.NoopFalse)
	}
	marked := map[string]bool{}
	for _, r := range rep.Resources {
		marked[r.ID] = r.NoopFalse
		for _, e := range r.Events {
			if e.Status != "noop" {
				t.Errorf("%s: event %+v happened", r.ID, e)
			}
		}
	}
	want := map[string]bool{
		"File[/etc/forced]": true, "File[/etc/sensitive-old]": false, "File[/etc/sensitive-new]": false,
		"File[/etc/nodiff-old]": false, "File[/etc/nodiff-new]": false, "Notify[a secret message]": false,
	}
	for id, w := range want {
		if got, ok := marked[id]; !ok || got != w {
			t.Errorf("%s: in the report %v, marked %v; want marked %v", id, ok, got, w)
		}
	}

	packed, err := bus.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	asJSON, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	for what, data := range map[string][]byte{"msgpack": packed, "JSON": asJSON} {
		if i := strings.Index(string(data), "SECRET-"); i >= 0 {
			t.Errorf("the %s result holds a secret: %q", what, data[i:min(len(data), i+40)])
		}
	}
	if left, _ := os.ReadDir(g.scratch); len(left) != 0 {
		t.Errorf("scratch dir not removed: %v", left)
	}
}

func writeHostFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
