package reconcile_test

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/balcony-dev/balcony/pkg/delta"
	"github.com/balcony-dev/balcony/pkg/reconcile"
	"github.com/balcony-dev/balcony/pkg/report"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// stamp is the recorded code's file that holds the time of the run: it
// differs between any noop and any apply, as such files do.
var stamp = reconcile.Options{Ignored: []delta.IgnoredResource{
	{Type: "File", Title: "/var/stamp", Purpose: "the time of the run"},
}}

// load returns the report testdata/record.sh recorded for a case and a
// run (noop or apply), normalized as the agent normalizes its runs.
func load(t *testing.T, name, kind string) *report.Report {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "record.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rec struct{ Tmp string }
	if err := json.Unmarshal(data, &rec); err != nil {
		t.Fatal(err)
	}
	opts := report.ParseOptions{
		CodeDir:  filepath.Join(rec.Tmp, "code"),
		HostRoot: filepath.Join(rec.Tmp, "hosts", name),
	}
	base := filepath.Join("testdata", name+"."+kind)
	y, err := os.ReadFile(base + ".yaml")
	if err != nil {
		t.Fatal(err)
	}
	r, err := report.Parse(y, opts)
	if err != nil {
		t.Fatalf("parse %s: %v", base, err)
	}
	catalog, err := os.ReadFile(base + ".catalog.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := r.AddNewFileContents(catalog, opts); err != nil {
		t.Fatal(err)
	}
	if kind == "noop" {
		if err := r.MarkNoopFalse(catalog, opts); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

// TestCompareRecorded reconciles each recorded apply with its noop and
// compares the Result, its Reason and its MissingNote with golden JSON. Run
// with -update after recording new reports.
func TestCompareRecorded(t *testing.T) {
	for _, name := range []string{"match", "edited", "fixed", "failing"} {
		t.Run(name, func(t *testing.T) {
			res := reconcile.Compare(load(t, name, "noop"), load(t, name, "apply"), stamp)
			got, err := json.MarshalIndent(struct {
				OK          bool             `json:"ok"`
				Reason      string           `json:"reason,omitempty"`
				MissingNote string           `json:"missing_note,omitempty"`
				Result      reconcile.Result `json:"result"`
			}{res.OK(), res.Reason(), res.MissingNote(), res}, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			golden := filepath.Join("testdata", "golden", name+".json")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("read golden (run with -update to create): %v", err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("result differs from %s (-want +got):\n%s", golden, diff)
			}
		})
	}
}

// TestRecordedFacts checks, on the real runs, what each case is about,
// independently of the golden files.
func TestRecordedFacts(t *testing.T) {
	t.Run("match", func(t *testing.T) {
		res := reconcile.Compare(load(t, "match", "noop"), load(t, "match", "apply"), stamp)
		// Execs, a notify, a noop => false file, a new file and two
		// refreshes: all shown by the noop, all done by the apply.
		if !res.OK() || len(res.Missing) != 0 || res.Reason() != "" {
			t.Errorf("a host that did what its noop showed: OK %v, reason %q, missing %v", res.OK(), res.Reason(), res.Missing)
		}
		if !slicesEqual(res.Ignored, []string{"File[/var/stamp]"}) {
			t.Errorf("ignored = %v, want the stamp", res.Ignored)
		}
	})
	t.Run("match without the ignore rule", func(t *testing.T) {
		res := reconcile.Compare(load(t, "match", "noop"), load(t, "match", "apply"), reconcile.Options{})
		if res.OK() || len(res.Unapproved) != 1 || res.Unapproved[0].Resource != "File[/var/stamp]" ||
			res.Unapproved[0].Why != reconcile.WhyDesired {
			t.Errorf("a file holding the run's time, not ignored: unapproved %+v", res.Unapproved)
		}
	})
	t.Run("edited", func(t *testing.T) {
		res := reconcile.Compare(load(t, "edited", "noop"), load(t, "edited", "apply"), stamp)
		want := map[string]string{
			"File[/etc/app.conf] content": reconcile.WhyPrevious,
			"File[/etc/key] mode":         reconcile.WhyPrevious,
			"File[/etc/motd] ensure":      reconcile.WhyNotReviewed,
		}
		got := map[string]string{}
		for _, f := range res.Unapproved {
			got[f.Resource+" "+f.Property] = f.Why
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("unapproved (-want +got):\n%s", diff)
		}
		if res.OK() || !strings.Contains(res.Reason(), "File[/etc/app.conf] (content)") {
			t.Errorf("the reason must name the edited file: %q", res.Reason())
		}
		// The apply's diff says what the hand edit was.
		app := res.Unapproved[0]
		if app.Applied == nil || !strings.Contains(app.Applied.Diff, "-workers=3") || !strings.Contains(app.Reviewed.Diff, "-workers=2") {
			t.Errorf("app.conf's finding shows no diffs of its two runs: %+v", app)
		}
	})
	t.Run("fixed", func(t *testing.T) {
		res := reconcile.Compare(load(t, "fixed", "noop"), load(t, "fixed", "apply"), stamp)
		if !res.OK() {
			t.Errorf("changes that did not happen fail the host: %s", res.Reason())
		}
		var got []string
		for _, f := range res.Missing {
			got = append(got, f.Resource+" "+f.Property+f.Refresh)
		}
		want := []string{"Exec[reload] refresh", "File[/etc/app.conf] content", "File[/etc/key] mode", "File[/etc/motd] content", "Service[app] refresh"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("missing (-want +got):\n%s", diff)
		}
	})
	t.Run("failing", func(t *testing.T) {
		res := reconcile.Compare(load(t, "failing", "noop"), load(t, "failing", "apply"), stamp)
		if res.OK() || !res.RunFailed || !slicesEqual(res.Failed, []string{"Exec[migrate]"}) || len(res.Unapproved) != 0 {
			t.Errorf("failed = %v, run failed %v, unapproved %v", res.Failed, res.RunFailed, res.Unapproved)
		}
		// What required the failed exec was skipped: approved, not done.
		if len(res.Missing) != 1 || res.Missing[0].Resource != "File[/etc/migrated]" {
			t.Errorf("missing = %+v, want the skipped file only", res.Missing)
		}
	})
}

func slicesEqual(a, b []string) bool { return cmp.Equal(a, b) }
