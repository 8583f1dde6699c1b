package report_test

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/balcony-dev/balcony/pkg/report"
	"github.com/balcony-dev/balcony/pkg/report/reporttest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// TestParseGolden parses recorded reports and compares them with golden
// JSON. Run with -update after recording new reports.
func TestParseGolden(t *testing.T) {
	cases := []struct{ rev, host string }{
		{"r0", "waldorf.example.com"}, // drift: hand-edited app.conf
		{"r1", "fozzie.example.com"},  // diff in a defined type, service refresh log
		{"r3", "fozzie.example.com"},  // Sensitive, show_diff => false, noop => false
		{"r8", "statler.example.com"}, // compile error: no report, stderr only
		{"x1", "waldorf.example.com"}, // a failed resource
	}
	for _, c := range cases {
		name := c.rev + "." + c.host
		t.Run(name, func(t *testing.T) {
			got, err := json.MarshalIndent(reporttest.Load(t, c.rev, c.host), "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", "golden", name+".json")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, append(got, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("read golden (run with -update to create): %v", err)
			}
			if diff := cmp.Diff(string(want), string(got)+"\n"); diff != "" {
				t.Errorf("parsed report differs from %s (-want +got):\n%s", golden, diff)
			}
		})
	}
}

// TestParseRecorded checks the facts the delta relies on, across every
// recorded report.
func TestParseRecorded(t *testing.T) {
	r1 := reporttest.Load(t, "r1", "fozzie.example.com")
	if r1.Failed || !r1.Noop || r1.Host != "fozzie.example.com" || r1.Seconds <= 0 || r1.Time.IsZero() {
		t.Errorf("r1 header = %+v", r1)
	}
	byID := map[string]report.Resource{}
	for _, r := range r1.Resources {
		byID[r.ID] = r
	}
	svc, ok := byID["Service[app]"]
	if !ok {
		t.Fatal("Service[app] refresh (a log line only) is missing")
	}
	if diff := cmp.Diff([]string{"Would have triggered 'refresh' from 1 event"}, svc.Logs); diff != "" {
		t.Errorf("service logs (-want +got):\n%s", diff)
	}
	app := byID["File[/etc/app.conf]"]
	if app.DefineType != "Site::Conf[app]" || app.File != "modules/site/manifests/conf.pp" {
		t.Errorf("app.conf = %+v", app)
	}
	if len(app.Diff) == 0 || app.Diff[:36] != "--- /etc/app.conf\n+++ /etc/app.conf\n" {
		t.Errorf("app.conf diff headers not normalized:\n%s", app.Diff)
	}
	if ev := app.Events[0]; ev.Desired[:8] != "{sha256}" || ev.Message != "" {
		t.Errorf("content event = %+v, want a decoded checksum and no generic message", ev)
	}

	// The same code checked out in two directories reads the same.
	r5 := reporttest.Load(t, "r6", "statler.example.com")
	r6 := reporttest.Load(t, "r4", "statler.example.com")
	ignore := cmp.FilterPath(func(p cmp.Path) bool {
		s := p.String()
		return s == "Time" || s == "Seconds" || s == "Resources.Diff" || s == "Resources.Events.Desired" || s == "Resources.Line"
	}, cmp.Ignore())
	if diff := cmp.Diff(r6, r5, ignore); diff != "" {
		t.Errorf("r4 and r6 (same code) differ beyond the timestamp file (-r4 +r6):\n%s", diff)
	}
}

func TestParseSynthetic(t *testing.T) {
	const data = `--- !ruby/object:Puppet::Transaction::Report
host: kermit.example.org
time: '2026-11-26T06:33:58.080459059+00:00'
puppet_version: 7.23.0
status: failed
noop: true
logs:
- level: notice
  message: "\n--- /srv/code/x\t2026-11-26 06:33:54.9 +0000\n+++ /tmp/puppet-file20261126-7210-s6m21c\t2026-11-26 06:33:58.0 +0000\n@@ -1 +1 @@\n-a\n+b\n"
  source: "/Stage[main]/Main/Node[default]/File[/srv/code/x]/content"
- level: notice
  message: "current_value 'a', should be 'b' (noop)"
  source: "/Stage[main]/Main/Node[default]/File[/srv/code/x]/content"
- level: !ruby/sym notice
  message: "Would have triggered 'refresh' from 1 event"
  source: "/Stage[main]/Main/Node[default]/Web::Vhost[a/b]/Exec[reload a/b]"
- level: notice
  message: "Would have triggered 'refresh' from 2 events"
  source: "Web::Vhost[a/b]"
- level: warning
  message: "Unknown variable $x (file: /srv/code/manifests/site.pp, line: 3, column: 4) on node kermit.example.org"
  source: "Puppet"
- level: err
  message: "Could not evaluate: boom (file: /srv/code/manifests/site.pp, line: 9) on node kermit.example.org"
  source: "/Stage[main]/Main/Node[default]/Package[vim]"
- level: notice
  message: Applied catalog in 0.04 seconds
  source: Puppet
metrics:
  time:
    values:
    - - total
      - Total
      - 1.5
resource_statuses:
  File[/srv/code/x]:
    title: "/srv/code/x"
    file: "/srv/code/manifests/site.pp"
    line: 4
    resource: File[/srv/code/x]
    resource_type: File
    containment_path: ["Stage[main]", "Main", "Node[default]", "File[/srv/code/x]"]
    failed: false
    events:
    - property: content
      previous_value: "{md5}0cc175b9c0f1b6a831c399e269772661"
      desired_value: !binary |-
        e21kNX05MmViNWZmZWU2YWUyZmVjM2FkNzFjNzc3NTMxNTc4Zg==
      message: current_value '{md5}0cc175b9c0f1b6a831c399e269772661', should be '{md5}92eb5ffee6ae2fec3ad71c777531578f' (noop)
      status: noop
  Exec[reload a/b]:
    title: reload a/b
    file: "/srv/code/modules/web/manifests/vhost.pp"
    line: 7
    resource: Exec[reload a/b]
    resource_type: Exec
    containment_path: ["Stage[main]", "Main", "Node[default]", "Web::Vhost[a/b]", "Exec[reload a/b]"]
    events: []
  Package[vim]:
    title: vim
    file: "/srv/code/manifests/site.pp"
    line: 9
    resource: Package[vim]
    resource_type: Package
    containment_path: ["Stage[main]", "Main", "Node[default]", "Package[vim]"]
    failed: true
    events: []
  User[bob]:
    title: bob
    resource: User[bob]
    resource_type: User
    containment_path: ["Stage[main]", "Main", "Node[default]", "User[bob]"]
    events:
    - property: groups
      previous_value: [wheel, adm]
      desired_value: {b: 1, a: [x]}
      status: success
      message: "groups changed 'wheel,adm' to 'x'"
    - property: password
      previous_value: "[redacted]"
      desired_value: "[redacted]"
      redacted: true
      status: noop
  Service[idle]:
    title: idle
    resource: Service[idle]
    resource_type: Service
    containment_path: ["Stage[main]", "Main", "Node[default]", "Service[idle]"]
    events: []
`
	got, err := report.Parse([]byte(data), report.ParseOptions{CodeDir: "/srv/code/"})
	if err != nil {
		t.Fatal(err)
	}
	want := &report.Report{
		Host:          "kermit.example.org",
		PuppetVersion: "7.23.0",
		PuppetStatus:  "failed",
		Noop:          true,
		Failed:        true,
		Errors:        []string{"Package[vim]: Could not evaluate: boom (file: manifests/site.pp)"},
		Time:          time.Date(2026, 11, 26, 6, 33, 58, 80459059, time.UTC),
		Seconds:       1.5,
		Resources: []report.Resource{
			{
				ID: "Exec[reload a/b]", Type: "Exec", Title: "reload a/b",
				File: "modules/web/manifests/vhost.pp", Line: 7, DefineType: "Web::Vhost[a/b]",
				ContainmentPath: []string{"Stage[main]", "Main", "Node[default]", "Web::Vhost[a/b]", "Exec[reload a/b]"},
				Logs:            []string{"Would have triggered 'refresh' from 1 event"},
			},
			{
				// The code dir is stripped from titles too: x is inside it.
				ID: "File[x]", Type: "File", Title: "x", File: "manifests/site.pp", Line: 4,
				ContainmentPath: []string{"Stage[main]", "Main", "Node[default]", "File[x]"},
				Events: []report.Event{{
					Property: "content", Status: "noop",
					Previous: "{md5}0cc175b9c0f1b6a831c399e269772661",
					Desired:  "{md5}92eb5ffee6ae2fec3ad71c777531578f",
				}},
				Diff: "--- x\n+++ x\n@@ -1 +1 @@\n-a\n+b\n",
			},
			{
				ID: "Package[vim]", Type: "Package", Title: "vim", File: "manifests/site.pp", Line: 9,
				ContainmentPath: []string{"Stage[main]", "Main", "Node[default]", "Package[vim]"},
				Logs:            []string{"Could not evaluate: boom (file: manifests/site.pp)"},
				Failed:          true,
			},
			{
				ID: "User[bob]", Type: "User", Title: "bob",
				ContainmentPath: []string{"Stage[main]", "Main", "Node[default]", "User[bob]"},
				Events: []report.Event{
					{Property: "groups", Previous: "['wheel', 'adm']", Desired: "{'a' => ['x'], 'b' => 1}", Status: "success", Message: "groups changed 'wheel,adm' to 'x'"},
					{Property: "password", Previous: "[redacted]", Desired: "[redacted]", Status: "noop"},
				},
				ChangedDuringNoop: true,
			},
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Parse (-want +got):\n%s", diff)
	}
}

func TestParseErrors(t *testing.T) {
	for name, data := range map[string]string{
		"not yaml":   "{[",
		"not report": "--- {}\n",
	} {
		if _, err := report.Parse([]byte(data), report.ParseOptions{}); err == nil {
			t.Errorf("%s: Parse succeeded", name)
		}
	}
}

func TestFailure(t *testing.T) {
	tests := []struct {
		name string
		opts report.ParseOptions
		errs []string
		want []string
	}{
		{
			name: "compile error",
			opts: report.ParseOptions{CodeDir: "/var/lib/balcony/checkouts/abc123"},
			errs: []string{
				"Error: Syntax error at 'content' (file: /var/lib/balcony/checkouts/abc123/modules/db/manifests/init.pp, line: 3, column: 32) on node statler.example.com",
				"",
			},
			want: []string{"Syntax error at 'content' (file: modules/db/manifests/init.pp)"},
		},
		{
			name: "duplicates and order",
			errs: []string{"Error: b on node x.example.com", "Error: a", "Error: b on node y.example.com"},
			want: []string{"a", "b"},
		},
		{
			name: "evaluation error at file:line",
			errs: []string{"Error: Evaluation Error: Unknown function: 'foo' at /code/site.pp:3:5 on node h"},
			want: []string{"Evaluation Error: Unknown function: 'foo' at /code/site.pp"},
		},
		{
			name: "facter noise and colour",
			errs: []string{
				"\x1b[1;31mError: Facter: Permission denied @ rb_sysopen - /proc/1/environ\x1b[0m",
				"\x1b[1;31mError: Could not find class ::nope for h on node h\x1b[0m",
			},
			want: []string{"Could not find class ::nope for h"},
		},
		{
			name: "only facter",
			errs: []string{"Error: Facter: boom"},
			want: []string{"Facter: boom"},
		},
		{name: "nothing said", want: []string{"puppet produced no report"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.opts.Failure("h.example.com", tt.errs...)
			if !got.Failed || got.Host != "h.example.com" || len(got.Resources) != 0 {
				t.Errorf("Failure = %+v", got)
			}
			if diff := cmp.Diff(tt.want, got.Errors); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
	if got := report.Failure("h", "Error: x on node h"); got.Errors[0] != "x" {
		t.Errorf("Failure = %v", got.Errors)
	}
}
