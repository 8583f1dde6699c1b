package delta_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/balcony-dev/balcony/pkg/delta"
	"github.com/balcony-dev/balcony/pkg/report"
	"github.com/balcony-dev/balcony/pkg/report/reporttest"
)

var (
	fozzie  = "fozzie.example.com"
	statler = "statler.example.com"
	waldorf = "waldorf.example.com"
	all     = fozzie + "," + statler + "," + waldorf

	stamp = delta.IgnoredResource{Type: "File", Title: "/var/stamp", Purpose: "rewritten with the time on every run"}
	noise = delta.Options{Ignored: []delta.IgnoredResource{stamp}}
)

// inputs builds the HostInput of every recorded host: the commit's noop,
// the baselines (first parent first) and the last applied revision's noop
// ("" for none).
func inputs(t testing.TB, commit string, baselines []string, applied string) []delta.HostInput {
	var in []delta.HostInput
	for _, h := range reporttest.Hosts {
		hi := delta.HostInput{Host: h, Commit: reporttest.Load(t, commit, h)}
		for _, b := range baselines {
			hi.Baselines = append(hi.Baselines, delta.Baseline{Revision: b, Report: reporttest.Load(t, b, h)})
		}
		if applied != "" {
			hi.LastApplied = &delta.Baseline{Revision: applied, Report: reporttest.Load(t, applied, h)}
		}
		in = append(in, hi)
	}
	return in
}

// summary prints groups as "Resource file:hosts", which is what a test
// needs to say about grouping.
func summary(gs []delta.Group) []string {
	var out []string
	for _, g := range gs {
		out = append(out, fmt.Sprintf("%s %s:%s", g.Resource.ID, g.Resource.File, strings.Join(g.Hosts, ",")))
	}
	return out
}

func TestCompute(t *testing.T) {
	tests := []struct {
		name      string
		commit    string
		baselines []string
		applied   string
		opts      delta.Options
		edit      func([]delta.HostInput) // changes the inputs before Compute
		groups    []string
		withdrawn []string
		drift     []string
		errors    []delta.ErrorGroup
		notes     []delta.BaselineNote
		unanswer  []string
		check     func(*testing.T, *delta.Result)
	}{
		{
			// waldorf's live app.conf differs (drift): its diff is derived
			// parent-desired to commit-desired and groups with the others.
			// The refresh is a log line only; on waldorf it is pending in
			// the parent already.
			name: "change on all hosts, service refresh", commit: "r1", baselines: []string{"r0"}, applied: "r0", opts: noise,
			groups: []string{
				"File[/etc/app.conf] modules/site/manifests/conf.pp:" + all,
				"Service[app] modules/base/manifests/init.pp:" + fozzie + "," + statler,
			},
			drift: []string{
				"Exec[permadiff] modules/base/manifests/init.pp:" + all,
				"File[/etc/app.conf] modules/site/manifests/conf.pp:" + waldorf,
				"Service[app] modules/base/manifests/init.pp:" + waldorf,
			},
			check: func(t *testing.T, r *delta.Result) {
				g := r.Groups[0]
				if g.Resource.DefineType != "Site::Conf[app]" || !strings.Contains(g.Resource.Diff, "-workers=2\n+workers=4\n") {
					t.Errorf("app.conf group = %+v", g.Resource)
				}
				if diff := cmp.Diff([]string{"Would have triggered 'refresh' from 1 event"}, r.Groups[1].Resource.Logs); diff != "" {
					t.Errorf("service logs (-want +got):\n%s", diff)
				}
			},
		},
		{
			// The permadiff exec runs on every noop; the same in parent and
			// commit, it never reaches the delta (only the drift).
			name: "per-host content, sensitive, show_diff false", commit: "r2", baselines: []string{"r1"}, opts: noise,
			groups: []string{
				"File[/etc/private] modules/base/manifests/init.pp:" + all,
				"File[/etc/role] modules/base/manifests/init.pp:" + fozzie,
				"File[/etc/role] modules/base/manifests/init.pp:" + statler + "," + waldorf,
				"File[/etc/secret] modules/base/manifests/init.pp:" + all,
			},
			check: func(t *testing.T, r *delta.Result) {
				for _, g := range r.Groups {
					switch g.Resource.ID {
					case "File[/etc/secret]":
						ev := g.Resource.Events[0]
						if ev.Previous != "[redacted]" || ev.Desired != "[redacted]" || g.Resource.Diff != "" {
							t.Errorf("secret leaks: %+v", g.Resource)
						}
					case "File[/etc/private]":
						if g.Resource.Diff != "" {
							t.Errorf("show_diff => false file has a diff: %q", g.Resource.Diff)
						}
					}
				}
			},
		},
		{
			name: "change on one host, noop => false", commit: "r3", baselines: []string{"r2"}, opts: noise,
			groups: []string{
				"File[/etc/fozzie] modules/web/manifests/init.pp:" + fozzie,
				"File[/etc/web-ready] modules/web/manifests/init.pp:" + fozzie,
			},
			check: func(t *testing.T, r *delta.Result) {
				if r.Groups[0].ChangedDuringNoop || !r.Groups[1].ChangedDuringNoop {
					t.Errorf("changed during noop: %v, %v", r.Groups[0].ChangedDuringNoop, r.Groups[1].ChangedDuringNoop)
				}
			},
		},
		{
			name: "same change from two source files", commit: "r4", baselines: []string{"r3"}, opts: noise,
			groups: []string{
				"File[/etc/banner] modules/db/manifests/init.pp:" + statler + "," + waldorf,
				"File[/etc/banner] modules/web/manifests/init.pp:" + fozzie,
			},
		},
		{
			name: "pending change", commit: "r5", baselines: []string{"r4"}, opts: noise,
			groups: []string{"File[/etc/motd] modules/base/manifests/init.pp:" + all},
		},
		{
			name: "withdrawn", commit: "r6", baselines: []string{"r5"}, opts: noise,
			withdrawn: []string{"File[/etc/motd] modules/base/manifests/init.pp:" + all},
		},
		{
			name: "edited in parent and again in commit", commit: "r7", baselines: []string{"r6"}, opts: noise,
			groups: []string{"File[/etc/app.conf] modules/site/manifests/conf.pp:" + all},
			check: func(t *testing.T, r *delta.Result) {
				got := delta.TrimDiff(r.Groups[0].Resource.Diff, 1)
				want := "--- /etc/app.conf\n+++ /etc/app.conf\n@@ -4,3 +4,4 @@\n port=80\n-workers=4\n+workers=6\n+threads=2\n timeout=30\n"
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("step diff (-want +got):\n%s", diff)
				}
				ev := r.Groups[0].Resource.Events[0]
				r6 := reporttest.Load(t, "r6", fozzie)
				for _, res := range r6.Resources {
					if res.ID == "File[/etc/app.conf]" && ev.Previous != res.Events[0].Desired {
						t.Errorf("step previous %s, want the parent's desired %s", ev.Previous, res.Events[0].Desired)
					}
				}
			},
		},
		{
			name: "compile error in the commit", commit: "r8", baselines: []string{"r7"}, opts: noise,
			groups: []string{"File[/etc/web.conf] modules/site/manifests/conf.pp:" + fozzie},
			errors: []delta.ErrorGroup{{
				Message: "Syntax error at 'content' (file: modules/db/manifests/init.pp)",
				Hosts:   []string{statler, waldorf},
			}},
			check: func(t *testing.T, r *delta.Result) {
				if _, ok := r.PerHost[statler]; ok {
					t.Error("a failed host has a per-host delta")
				}
			},
		},
		{
			name: "compile error in the parent", commit: "r9", baselines: []string{"r8", "r7"}, opts: noise,
			groups: []string{"File[/etc/db.conf] modules/site/manifests/conf.pp:" + statler + "," + waldorf},
			notes: []delta.BaselineNote{
				{Host: statler, Revision: "r7", Reason: delta.ReasonParentFailed},
				{Host: waldorf, Revision: "r7", Reason: delta.ReasonParentFailed},
			},
		},
		{
			// r10 changed the motd on the main line; the side branch adds
			// etc/feature. The merge shows only what the branch brings.
			name: "merge commit", commit: "m11", baselines: []string{"r10"}, opts: noise,
			groups: []string{"File[/etc/feature] modules/feature/manifests/init.pp:" + all},
		},
		{
			name: "resource failure on one host", commit: "x1", baselines: []string{"r0"}, opts: noise,
			groups: []string{
				"File[/etc/app.conf] modules/site/manifests/conf.pp:" + fozzie + "," + statler,
				"Service[app] modules/base/manifests/init.pp:" + fozzie + "," + statler,
			},
			errors: []delta.ErrorGroup{{
				Message: "File[/etc/from-source]: Could not evaluate: Could not retrieve information from environment production source(s) file:///nonexistent/balcony/file",
				Hosts:   []string{waldorf},
			}},
		},
		{
			name: "ignored resources", commit: "r1", baselines: []string{"r0"},
			opts: delta.Options{Ignored: []delta.IgnoredResource{
				stamp,
				{Type: "Service", Title: "ap.", Purpose: "restarts are harmless"},
				{Type: "File", Title: "/nothing/.*", Purpose: "matches nothing"},
			}},
			groups: []string{"File[/etc/app.conf] modules/site/manifests/conf.pp:" + all},
			check: func(t *testing.T, r *delta.Result) {
				want := []delta.IgnoredNote{
					{Type: "File", Title: "/var/stamp", Purpose: stamp.Purpose, Resources: []string{"File[/var/stamp]"}, Hosts: []string{fozzie, statler, waldorf}},
					// waldorf's refresh of app is pending identically in
					// r0: not the commit's, so not reported as removed.
					{Type: "Service", Title: "ap.", Purpose: "restarts are harmless", Resources: []string{"Service[app]"}, Hosts: []string{fozzie, statler}},
				}
				if diff := cmp.Diff(want, r.Ignored); diff != "" {
					t.Errorf("ignored (-want +got):\n%s", diff)
				}
			},
		},
		{
			// The timestamp file differs on every run and every host: one
			// group per host, in every delta, unless ignored.
			name: "noise not ignored", commit: "r5", baselines: []string{"r4"},
			groups: []string{
				"File[/etc/motd] modules/base/manifests/init.pp:" + all,
				"File[/var/stamp] modules/base/manifests/init.pp:" + fozzie,
				"File[/var/stamp] modules/base/manifests/init.pp:" + statler,
				"File[/var/stamp] modules/base/manifests/init.pp:" + waldorf,
			},
		},
		{
			name: "unanswered hosts", commit: "r5", baselines: []string{"r4", "r3"}, opts: noise,
			edit: func(in []delta.HostInput) {
				in[1].Commit = nil              // statler: no answer for the commit
				in[2].Baselines[0].Report = nil // waldorf: no answer for the parent
			},
			groups: []string{
				// waldorf is compared with r3: r4's banner shows too.
				"File[/etc/banner] modules/db/manifests/init.pp:" + waldorf,
				"File[/etc/motd] modules/base/manifests/init.pp:" + fozzie + "," + waldorf,
			},
			notes:    []delta.BaselineNote{{Host: waldorf, Revision: "r3", Reason: delta.ReasonParentUnanswered}},
			unanswer: []string{statler},
		},
		{
			name: "last applied as the baseline of last resort", commit: "r2", baselines: []string{"r1"}, applied: "r1", opts: noise,
			edit: func(in []delta.HostInput) {
				for i := range in {
					in[i].Baselines[0].Report = report.Failure(in[i].Host, "Error: boom")
				}
				in[0].LastApplied = nil // and fozzie has nothing to compare with
			},
			groups: []string{
				"Exec[permadiff] modules/base/manifests/init.pp:" + fozzie,
				"File[/etc/app.conf] modules/site/manifests/conf.pp:" + fozzie,
				"File[/etc/private] modules/base/manifests/init.pp:" + all,
				"File[/etc/role] modules/base/manifests/init.pp:" + fozzie,
				"File[/etc/role] modules/base/manifests/init.pp:" + statler + "," + waldorf,
				"File[/etc/secret] modules/base/manifests/init.pp:" + all,
				"Service[app] modules/base/manifests/init.pp:" + fozzie,
			},
			drift: []string{
				"Exec[permadiff] modules/base/manifests/init.pp:" + statler + "," + waldorf,
				"File[/etc/app.conf] modules/site/manifests/conf.pp:" + statler,
				"File[/etc/app.conf] modules/site/manifests/conf.pp:" + waldorf,
				"Service[app] modules/base/manifests/init.pp:" + statler + "," + waldorf,
			},
			notes: []delta.BaselineNote{
				{Host: fozzie, Reason: delta.ReasonNoBaseline},
				{Host: statler, Revision: "r1", Reason: delta.ReasonLastApplied},
				{Host: waldorf, Revision: "r1", Reason: delta.ReasonLastApplied},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := inputs(t, tt.commit, tt.baselines, tt.applied)
			if tt.edit != nil {
				tt.edit(in)
			}
			got := delta.Compute(tt.commit, tt.baselines[0], in, tt.opts)
			if diff := cmp.Diff(tt.groups, summary(got.Groups)); diff != "" {
				t.Errorf("groups (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.withdrawn, summary(got.Withdrawn)); diff != "" {
				t.Errorf("withdrawn (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.drift, summary(got.Drift)); diff != "" {
				t.Errorf("drift (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.errors, got.Errors); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.notes, got.Baselines); diff != "" {
				t.Errorf("baseline notes (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.unanswer, got.Unanswered); diff != "" {
				t.Errorf("unanswered (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(reporttest.Hosts, got.Hosts); diff != "" {
				t.Errorf("hosts (-want +got):\n%s", diff)
			}
			if tt.check != nil {
				tt.check(t, got)
			}
		})
	}
}
