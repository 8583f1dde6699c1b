package review_test

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/balcony-dev/balcony/pkg/delta"
	"github.com/balcony-dev/balcony/pkg/protocol"
	"github.com/balcony-dev/balcony/pkg/report/reporttest"
	"github.com/balcony-dev/balcony/pkg/review"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func TestCompressHosts(t *testing.T) {
	tests := []struct {
		in   []string
		want string
	}{
		{nil, ""},
		{[]string{"fozzie.example.com"}, "fozzie.example.com"},
		{[]string{"waldorf.example.com", "fozzie.example.com", "statler.example.com"}, "{fozzie,statler,waldorf}.example.com"},
		{[]string{"a.example.com", "b.example.org", "c.example.com"}, "{a,c}.example.com, b.example.org"},
		{[]string{"db1.eu.example.com", "db2.eu.example.com", "web.example.com"}, "{db1,db2}.eu.example.com, web.example.com"},
		{[]string{"localhost", "b.x", "b.x"}, "b.x, localhost"},
	}
	for _, tt := range tests {
		if got := review.CompressHosts(tt.in); got != tt.want {
			t.Errorf("CompressHosts(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// scenario computes the delta of a recorded commit on all hosts.
func scenario(t *testing.T, commit string, baselines []string, applied string, edit func([]delta.HostInput)) *delta.Result {
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
	if edit != nil {
		edit(in)
	}
	opts := delta.Options{Ignored: []delta.IgnoredResource{{Type: "File", Title: "/var/stamp", Purpose: "rewritten with the time on every run"}}}
	return delta.Compute(commit, baselines[0], in, opts)
}

func commit(sha, subject string) protocol.Commit {
	return protocol.Commit{
		SHA: sha, Parents: []string{"0123456789abcdef0123456789abcdef01234567"},
		Author: "Kermit", AuthorEmail: "kermit@example.com", Subject: subject,
		Time: time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC),
	}
}

func TestGolden(t *testing.T) {
	tests := []struct {
		name string
		doc  review.Document
	}{
		{"changes-drift-ignored", review.Document{
			Repo: "puppet", Branch: "main", Complete: true,
			Commit: commit("1111111111111111111111111111111111111111", "app: four workers"),
			Result: scenario(t, "r1", []string{"r0"}, "r0", nil),
		}},
		{"withdrawn", review.Document{
			Repo: "puppet", Branch: "main", Complete: true,
			Commit: commit("6666666666666666666666666666666666666666", "motd: no maintenance after all"),
			Result: scenario(t, "r6", []string{"r5"}, "", nil),
		}},
		{"edited-twice", review.Document{
			Repo: "puppet", Branch: "main", Complete: true,
			Commit: commit("7777777777777777777777777777777777777777", "app: six workers, two threads"),
			Result: scenario(t, "r7", []string{"r6"}, "", nil),
		}},
		{"compile-error", review.Document{
			Repo: "puppet", Branch: "main", Complete: true,
			Commit: commit("8888888888888888888888888888888888888888", "web: web.conf; db: typo"),
			Result: scenario(t, "r8", []string{"r7"}, "", nil),
		}},
		{"parent-failed-partial", review.Document{
			Repo: "puppet", Branch: "main", Complete: false,
			Commit: commit("9999999999999999999999999999999999999999", "db: fix typo, db.conf"),
			Result: scenario(t, "r9", []string{"r8", "r7"}, "", func(in []delta.HostInput) { in[0].Commit = nil }),
		}},
		{"per-host-sensitive", review.Document{
			Repo: "puppet", Branch: "main", Complete: true,
			Commit: commit("2222222222222222222222222222222222222222", "roles, secrets"),
			Result: scenario(t, "r2", []string{"r1"}, "", nil),
		}},
		{"no-result", review.Document{Commit: commit("3333333333333333333333333333333333333333", "just pushed")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			js, err := review.JSON(tt.doc)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, tt.name+".md", review.Markdown(tt.doc))
			golden(t, tt.name+".json", string(js))
		})
	}
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (run with -update to create): %v", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s differs (-want +got):\n%s", path, diff)
	}
}

func TestMarkdownNoChanges(t *testing.T) {
	doc := review.Document{Complete: true, Commit: commit("4444444444444444444444444444444444444444", "docs"),
		Result: &delta.Result{Commit: "4444", Parent: "3333", Hosts: []string{"a.example.com"}}}
	md := review.Markdown(doc)
	if !strings.Contains(md, "\nNo changes.\n") {
		t.Errorf("no \"No changes.\" in:\n%s", md)
	}
}

func TestMarkdownFence(t *testing.T) {
	doc := review.Document{Complete: true, Result: &delta.Result{Groups: []delta.Group{{
		ID: "0000000000000000", Hosts: []string{"a.b"},
		Resource: delta.Group{}.Resource,
	}}}}
	doc.Result.Groups[0].Resource.ID = "File[/README.md]"
	doc.Result.Groups[0].Resource.Diff = "--- /README.md\n+++ /README.md\n@@ -1 +1 @@\n-```\n+````go\n"
	md := review.Markdown(doc)
	if !strings.Contains(md, "`````diff\n") {
		t.Errorf("diff fence not longer than the diff's backticks:\n%s", md)
	}
}

func TestJSONDoesNotModify(t *testing.T) {
	res := scenario(t, "r7", []string{"r6"}, "", nil)
	before := res.Groups[0].Resource.Diff
	if _, err := review.JSON(review.Document{Result: res}); err != nil {
		t.Fatal(err)
	}
	if res.Groups[0].Resource.Diff != before {
		t.Error("JSON modified the result")
	}
}
