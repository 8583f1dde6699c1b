package review_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/balcony-dev/balcony/pkg/delta"
	"github.com/balcony-dev/balcony/pkg/protocol"
	"github.com/balcony-dev/balcony/pkg/report"
	"github.com/balcony-dev/balcony/pkg/review"
)

// hosts returns prefix01..prefixNN in domain.
func hosts(prefix string, n int, domain string) []string {
	var hs []string
	for i := 1; i <= n; i++ {
		hs = append(hs, fmt.Sprintf("%s%02d.%s", prefix, i, domain))
	}
	return hs
}

func join(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

// The fleet of the hand-built documents: a long list in two domains.
var (
	webHosts = hosts("web", 12, "eu.example.com")
	dbHosts  = hosts("db", 3, "us.example.com")
	allHosts = join(webHosts, dbHosts)
)

// longDiff has more context than review.Context on both sides of its
// change, a backtick run and a redacted value.
const longDiff = `--- /etc/app.conf
+++ /etc/app.conf
@@ -1,9 +1,9 @@
 # managed by puppet
 [main]
 listen = 0.0.0.0
 port = 8080
-password = [redacted]
+password = ` + "```" + `[redacted]` + "```" + `
 workers = 4
 threads = 2
 timeout = 30
 log = /var/log/app.log
`

// sectionsResult exercises every section Markdown has, with hand-built
// groups rather than recorded reports so that each section's edge is
// chosen: errors with backticks, the three kinds of baseline note, a
// resource with logs only, a change made during the noop, a failed
// resource, drift, withdrawn changes and unanswered hosts.
func sectionsResult() *delta.Result {
	answeredWeb := webHosts[:10]
	return &delta.Result{
		Commit: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
		Parent: "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
		Hosts:  allHosts,
		Groups: []delta.Group{
			{
				ID: "1111aaaa2222bbbb", Hosts: join(answeredWeb, dbHosts[:1]),
				Resource: report.Resource{
					ID: "File[/etc/app.conf]", Type: "File", Title: "/etc/app.conf",
					File: "modules/app/manifests/init.pp", Line: 12, DefineType: "App::Conf[main]",
					Events: []report.Event{{Property: "content", Previous: "[redacted]", Desired: "[redacted]", Status: "noop"}},
					Diff:   longDiff,
				},
			},
			{
				ID: "3333cccc4444dddd", Hosts: answeredWeb,
				Resource: report.Resource{
					ID: "Service[app]", Type: "Service", Title: "app",
					File: "modules/app/manifests/service.pp", Line: 3,
					Logs: []string{"Would have triggered 'refresh' from 1 event"},
				},
			},
			{
				ID: "5555eeee6666ffff", Hosts: answeredWeb[:2], ChangedDuringNoop: true,
				Resource: report.Resource{
					ID: "Exec[migrate]", Type: "Exec", Title: "migrate",
					File: "modules/app/manifests/migrate.pp", Line: 7,
					Events: []report.Event{{
						Property: "returns", Previous: "notrun", Desired: "['0']",
						Status: "success", Message: "executed successfully",
					}},
					ChangedDuringNoop: true,
				},
			},
			{
				ID: "9999aaaabbbbcccc", Hosts: dbHosts[:1], NoopFalse: true,
				Resource: report.Resource{
					ID: "File[/etc/forced]", Type: "File", Title: "/etc/forced",
					File: "modules/db/manifests/init.pp", Line: 5,
					Events:    []report.Event{{Property: "ensure", Previous: "absent", Desired: "file", Status: "noop"}},
					NoopFalse: true,
				},
			},
			{
				ID: "7777000088889999", Hosts: dbHosts[:1],
				Resource: report.Resource{
					ID: "Package[pg]", Type: "Package", Title: "pg",
					Events: []report.Event{{Property: "ensure", Previous: "", Desired: "16.2", Status: "failure", Message: "no candidate"}},
					Failed: true,
				},
			},
		},
		Withdrawn: []delta.Group{{
			ID: "aaaa0000bbbb1111", Hosts: answeredWeb,
			Resource: report.Resource{
				ID: "File[/etc/motd]", Type: "File", Title: "/etc/motd",
				Events: []report.Event{{Property: "ensure", Previous: "file", Desired: "absent", Status: "noop"}},
			},
		}},
		Drift: []delta.Group{{
			ID: "cccc2222dddd3333", Hosts: []string{webHosts[0], dbHosts[0]},
			Resource: report.Resource{
				ID: "File[/etc/hosts]", Type: "File", Title: "/etc/hosts",
				Events: []report.Event{{Property: "mode", Previous: "0666", Desired: "0644", Status: "noop"}},
			},
		}},
		Errors: []delta.ErrorGroup{
			{Message: "Could not find class ::db for db02.us.example.com", Hosts: dbHosts[1:]},
			{Message: "Evaluation Error: unknown function `lookupp`\n  (file: modules/app/manifests/init.pp, line: 4)", Hosts: webHosts[9:10]},
		},
		Baselines: []delta.BaselineNote{
			{Host: webHosts[0], Revision: "cccccccccccccccccccccccccccccccccccccccc", Reason: delta.ReasonParentFailed},
			{Host: webHosts[1], Revision: "cccccccccccccccccccccccccccccccccccccccc", Reason: delta.ReasonParentFailed},
			{Host: webHosts[2], Reason: delta.ReasonNoBaseline},
			{Host: dbHosts[0], Revision: "dddddddddddddddddddddddddddddddddddddddd", Reason: delta.ReasonLastApplied},
			{Host: webHosts[3], Revision: "cccccccccccccccccccccccccccccccccccccccc", Reason: delta.ReasonParentUnanswered},
		},
		NoopFalse: []delta.NoopFalseNote{
			{Resource: "Exec[check]", Hosts: answeredWeb},
			{Resource: "File[/etc/forced]", Hosts: dbHosts[:1]},
		},
		Unanswered: webHosts[10:],
		PerHost:    map[string][]report.Resource{webHosts[0]: {{ID: "File[/etc/app.conf]"}}},
		Ignored: []delta.IgnoredNote{{
			Type: "File", Title: "/var/stamp", Purpose: "rewritten on every run",
			Resources: []string{"File[/var/stamp]"}, Hosts: allHosts[:10],
		}},
	}
}

func TestGoldenSections(t *testing.T) {
	tests := []struct {
		name string
		doc  review.Document
	}{
		{"sections-complete", review.Document{
			Repo: "puppet", Branch: "main", Complete: true,
			Commit: commit("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "app: new password, migrate"),
			Result: sectionsResult(),
		}},
		{"sections-running", review.Document{
			Repo: "puppet", Branch: "main", Complete: false,
			Commit: commit("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "app: new password, migrate"),
			Result: sectionsResult(),
		}},
		{"bare-header", review.Document{
			// No repository, no e-mail, no parent, a short sha, no changes
			// and nobody answered yet.
			Commit: func() (c protocol.Commit) {
				c = commit("abc123", "root commit")
				c.AuthorEmail, c.Parents = "", nil
				return c
			}(),
			Result: &delta.Result{Commit: "abc123", Hosts: []string{"localhost", "web01.eu.example.com"}, Unanswered: []string{"localhost", "web01.eu.example.com"}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			md := review.Markdown(tt.doc)
			checkFences(t, md)
			js, err := review.JSON(tt.doc)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, tt.name+".md", md)
			golden(t, tt.name+".json", string(js))
		})
	}
}

// TestSectionsContent asserts, independently of the goldens, what each
// section of the hand-built document must show.
func TestSectionsContent(t *testing.T) {
	doc := review.Document{Complete: true, Commit: commit("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "s"), Result: sectionsResult()}
	md := review.Markdown(doc)
	for _, want := range []string{
		"- **Hosts:** 13 of 15 answered\n",
		"- **Compared with:** `bbbbbbbbbb` (first parent)\n",
		// Sections, in the documented order.
		"\n## Changes\n", "\n## Errors\n", "\n## Withdrawn\n", "\n## Compared with another revision\n",
		"\n## Drift\n", "\n## Ignored\n", "\n## Did not answer\n",
		// Two domains compressed.
		"- **Hosts:** db01.us.example.com, {web01,web02,web03,web04,web05,web06,web07,web08,web09,web10}.eu.example.com\n",
		"- **{db02,db03}.us.example.com**:\n```\nCould not find class ::db for db02.us.example.com\n```\n",
		"- **web10.eu.example.com**:\n```\nEvaluation Error: unknown function `lookupp`\n",
		// A service refresh shows as its log line alone.
		"- Log: Would have triggered 'refresh' from 1 event\n",
		"> **Warning:** changed during the noop",
		"- `returns`: `notrun` → `['0']` (success): executed successfully\n",
		"- `ensure`: `(none)` → `16.2` (failure): no candidate\n",
		"- **Failed**\n",
		"- `content`: `[redacted]` → `[redacted]`\n",
		// Baseline notes: no revision, parent failed grouped, last applied.
		"- web03.eu.example.com: compared with nothing, as " + delta.ReasonNoBaseline + ".\n",
		"- {web01,web02}.eu.example.com: compared with `cccccccccc`, as " + delta.ReasonParentFailed + ".\n",
		"- db01.us.example.com: compared with `dddddddddd`, as " + delta.ReasonLastApplied + ".\n",
		"\n{web11,web12}.eu.example.com\n",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("missing %q in:\n%s", want, md)
		}
	}
	order := []string{"## Changes", "## Errors", "## Withdrawn", "## Compared with", "## Drift", "## Ignored", "## Did not answer"}
	last := -1
	for _, s := range order {
		i := strings.Index(md, s)
		if i < last {
			t.Errorf("section %q out of order", s)
		}
		last = i
	}
	// The diff is trimmed to Context lines around the change.
	if strings.Contains(md, "# managed by puppet") || strings.Contains(md, "log = /var/log/app.log") {
		t.Errorf("diff not trimmed to %d lines of context:\n%s", review.Context, md)
	}
	if !strings.Contains(md, " listen = 0.0.0.0\n") || !strings.Contains(md, " timeout = 30\n") {
		t.Errorf("diff lost its %d lines of context:\n%s", review.Context, md)
	}
	// The diff's ``` run needs a four-backtick fence.
	if !strings.Contains(md, "\n````diff\n") {
		t.Errorf("no four-backtick diff fence:\n%s", md)
	}
	// "Still running" replaces "Did not answer" while the noop runs.
	doc.Complete = false
	md = review.Markdown(doc)
	if !strings.Contains(md, "\n## Still running\n") || strings.Contains(md, "Did not answer") {
		t.Errorf("incomplete document:\n%s", md)
	}
	if !strings.Contains(md, "(noop still running: this review is partial)") {
		t.Errorf("incomplete header:\n%s", md)
	}
}

func TestJSONSections(t *testing.T) {
	res := sectionsResult()
	js, err := review.JSON(review.Document{Complete: true, Result: res})
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		Result struct {
			Groups, Withdrawn, Drift []delta.Group
			Errors                   []delta.ErrorGroup
			Baselines                []delta.BaselineNote
			NoopFalse                []delta.NoopFalseNote `json:"noop_false"`
			PerHost                  map[string]any        `json:"per_host"`
		}
	}
	if err := json.Unmarshal(js, &out); err != nil {
		t.Fatal(err)
	}
	r := out.Result
	if r.PerHost != nil {
		t.Error("per_host in the review JSON")
	}
	if len(r.Groups) != 5 || len(r.Withdrawn) != 1 || len(r.Drift) != 1 || len(r.Errors) != 2 || len(r.Baselines) != 5 {
		t.Errorf("sections lost: %d groups, %d withdrawn, %d drift, %d errors, %d baselines",
			len(r.Groups), len(r.Withdrawn), len(r.Drift), len(r.Errors), len(r.Baselines))
	}
	if !r.Groups[2].ChangedDuringNoop {
		t.Error("changed_during_noop lost")
	}
	if !r.Groups[3].NoopFalse || !r.Groups[3].Resource.NoopFalse || len(r.NoopFalse) != 2 {
		t.Errorf("noop_false lost: group %v, resource %v, notes %+v", r.Groups[3].NoopFalse, r.Groups[3].Resource.NoopFalse, r.NoopFalse)
	}
	if d := r.Groups[0].Resource.Diff; strings.Contains(d, "# managed by puppet") || !strings.Contains(d, "password = ```[redacted]```") {
		t.Errorf("JSON diff not trimmed like the Markdown:\n%s", d)
	}
	if res.Groups[0].Resource.Diff != longDiff || res.PerHost == nil {
		t.Error("JSON modified the result")
	}
}

// TestJSONNoGroupsIsAnEmptyList checks docs/review-json.md: "Absent
// optional fields are omitted, never null, except result".
func TestJSONNoGroupsIsAnEmptyList(t *testing.T) {
	js, err := review.JSON(review.Document{Result: &delta.Result{Commit: "c", Hosts: []string{"a.b"}}})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(js), "null") {
		t.Errorf("review JSON has a null list, contrary to docs/review-json.md:\n%s", js)
	}
}

func TestCompressHostsMore(t *testing.T) {
	tests := []struct {
		name string
		in   []string
		want string
	}{
		{"empty slice", []string{}, ""},
		{"single label", []string{"localhost"}, "localhost"},
		{"single labels sorted", []string{"zeta", "alpha", "mid"}, "alpha, mid, zeta"},
		{"single label duplicated", []string{"localhost", "localhost"}, "localhost"},
		{"same name with and without domain", []string{"web01.example.com", "web01"}, "web01, web01.example.com"},
		{"mixed short and domain hosts", []string{"b.example.com", "gw", "a.example.com", "zz"}, "{a,b}.example.com, gw, zz"},
		{"duplicates braced once", []string{"b.x.com", "a.x.com", "b.x.com", "a.x.com"}, "{a,b}.x.com"},
		{"duplicates of a lone host", []string{"a.x.com", "a.x.com"}, "a.x.com"},
		{"ordered by first host", []string{"z.a.org", "b.z.org", "a.z.org"}, "{a,b}.z.org, z.a.org"},
		{"two domains long", allHosts, "{db01,db02,db03}.us.example.com, {web01,web02,web03,web04,web05,web06,web07,web08,web09,web10,web11,web12}.eu.example.com"},
		{"a domain is not its subdomain", []string{"a.example.com", "b.eu.example.com", "c.example.com"}, "{a,c}.example.com, b.eu.example.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := append([]string(nil), tt.in...)
			if got := review.CompressHosts(tt.in); got != tt.want {
				t.Errorf("CompressHosts(%q) = %q, want %q", tt.in, got, tt.want)
			}
			for i := range before {
				if tt.in[i] != before[i] {
					t.Fatalf("input modified: %q, was %q", tt.in, before)
				}
			}
		})
	}
}

func TestCheckFences(t *testing.T) {
	for name, tt := range map[string]struct {
		md string
		ok bool
	}{
		"none":               {"# a\n\ntext\n", true},
		"balanced":           {"```diff\n-a\n+b\n```\n", true},
		"longer inner run":   {"````diff\n```\n````\n", true},
		"unclosed":           {"```diff\n-a\n", false},
		"shorter close":      {"````\nx\n```\n", false},
		"close with info":    {"```\nx\n```go\n", false},
		"two blocks":         {"```\na\n```\n\n```\nb\n```\n", true},
		"second not closed":  {"```\na\n```\n```\nb\n", false},
		"indented not fence": {"text\n    ```\n", true},
	} {
		t.Run(name, func(t *testing.T) {
			if err := fenceError(tt.md); (err == nil) != tt.ok {
				t.Errorf("fenceError = %v, want ok %v", err, tt.ok)
			}
		})
	}
}

// checkFences fails the test when md has a code fence that is not
// closed.
func checkFences(t *testing.T, md string) {
	t.Helper()
	if err := fenceError(md); err != nil {
		t.Errorf("%v in:\n%s", err, md)
	}
}

// fenceError checks CommonMark backtick fences: a block opened by n
// backticks (and an optional info string) is closed by a line of at
// least n backticks alone. Indented (4 spaces) lines are not fences.
func fenceError(md string) error {
	open, openLine := 0, 0
	for i, line := range strings.Split(md, "\n") {
		if strings.HasPrefix(line, "    ") {
			continue
		}
		trimmed := strings.TrimLeft(line, " ")
		n := len(trimmed) - len(strings.TrimLeft(trimmed, "`"))
		if n < 3 {
			continue
		}
		rest := strings.TrimSpace(trimmed[n:])
		switch {
		case open == 0:
			open, openLine = n, i+1
		case n >= open && rest == "":
			open = 0
		}
	}
	if open > 0 {
		return fmt.Errorf("fence of %d backticks opened on line %d is never closed", open, openLine)
	}
	return nil
}
