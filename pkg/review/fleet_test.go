package review_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/balcony-dev/balcony/pkg/delta"
	"github.com/balcony-dev/balcony/pkg/report"
	"github.com/balcony-dev/balcony/pkg/review"
)

// The reports testdata/fleet/record.sh recorded: eight hosts whose files
// name them, with a serial number of their own.
var fleetHosts = func() []string {
	var hs []string
	for i := 1; i <= 8; i++ {
		hs = append(hs, fmt.Sprintf("node%02d.example.com", i))
	}
	return hs
}()

var fleetCache sync.Map // rev.host -> *report.Report

// fleetReport returns the recorded noop of revision rev on host, parsed as
// the agent parses its runs. Callers must not modify it.
func fleetReport(t *testing.T, rev, host string) *report.Report {
	t.Helper()
	if r, ok := fleetCache.Load(rev + "." + host); ok {
		return r.(*report.Report)
	}
	dir := filepath.Join("testdata", "fleet")
	data, err := os.ReadFile(filepath.Join(dir, "record.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rec struct{ Tmp string }
	if err := json.Unmarshal(data, &rec); err != nil {
		t.Fatal(err)
	}
	y, err := os.ReadFile(filepath.Join(dir, rev+"."+host+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := report.Parse(y, report.ParseOptions{
		CodeDir:  filepath.Join(rec.Tmp, "code", rev),
		HostRoot: filepath.Join(rec.Tmp, "hosts", host),
	})
	if err != nil {
		t.Fatalf("parse %s on %s: %v", rev, host, err)
	}
	fleetCache.Store(rev+"."+host, r)
	return r
}

// serial is the serial number record.sh gives a host.
func serial(host string) string {
	sum := sha256.Sum256([]byte(host))
	return hex.EncodeToString(sum[:])[:12]
}

var checksum = regexp.MustCompile(`^\{sha256\}[0-9a-f]{64}$`)

// asHost returns the report of template (a recorded host) as host would
// have sent it: the template's certname, short hostname and serial number
// replaced by host's, and the content checksums computed again from the
// (whole-file) diffs. TestAsHost checks it against the recording.
func asHost(t *testing.T, r *report.Report, host string) *report.Report {
	t.Helper()
	from, to := r.Host, host
	fromShort, _, _ := strings.Cut(from, ".")
	toShort, _, _ := strings.Cut(to, ".")
	rep := strings.NewReplacer(from, to, serial(from), serial(to))
	sub := func(s string) string { return replaceWord(rep.Replace(s), fromShort, toShort) }
	c := *r
	c.Host = host
	c.Resources = make([]report.Resource, len(r.Resources))
	for i, res := range r.Resources {
		res.Diff = sub(res.Diff)
		res.Logs = append([]string(nil), res.Logs...)
		for j := range res.Logs {
			res.Logs[j] = sub(res.Logs[j])
		}
		res.Events = append([]report.Event(nil), res.Events...)
		for j, e := range res.Events {
			if e.Property == "content" && res.Diff != "" && checksum.MatchString(e.Desired) {
				before, after := sides(t, res.Diff)
				e.Previous, e.Desired = sha(before), sha(after)
			}
			res.Events[j] = e
		}
		c.Resources[i] = res
	}
	return &c
}

// replaceWord replaces old by repl where no letter or digit is beside it
// (a regular expression here held the race detector for seconds).
func replaceWord(s, old, repl string) string {
	var b strings.Builder
	for {
		i := strings.Index(s, old)
		if i < 0 {
			return b.String() + s
		}
		end := i + len(old)
		if i > 0 && alnum(s[i-1]) || end < len(s) && alnum(s[end]) {
			b.WriteString(s[:end])
		} else {
			b.WriteString(s[:i] + repl)
		}
		s = s[end:]
	}
}

func alnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// sides returns the whole files a diff made with all lines of context
// goes from and to.
func sides(t *testing.T, diff string) (before, after string) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(diff, "\n"), "\n")
	var b, a strings.Builder
	for _, l := range lines {
		switch {
		case strings.HasPrefix(l, "---"), strings.HasPrefix(l, "+++"), strings.HasPrefix(l, "@@"):
		case strings.HasPrefix(l, " "):
			b.WriteString(l[1:] + "\n")
			a.WriteString(l[1:] + "\n")
		case strings.HasPrefix(l, "-"):
			b.WriteString(l[1:] + "\n")
		case strings.HasPrefix(l, "+"):
			a.WriteString(l[1:] + "\n")
		default:
			t.Fatalf("unexpected diff line %q", l)
		}
	}
	return b.String(), a.String()
}

func sha(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "{sha256}" + hex.EncodeToString(sum[:])
}

// The synthetic hosts of the big case are exactly what Puppet reports: a
// recorded host's report turned into another recorded host's is that
// host's recorded report.
func TestAsHost(t *testing.T) {
	for _, rev := range []string{"r1", "r2", "r3"} {
		for _, pair := range [][2]string{{"node01.example.com", "node02.example.com"}, {"node06.example.com", "node07.example.com"}} {
			got := asHost(t, fleetReport(t, rev, pair[0]), pair[1]).Resources
			want := fleetReport(t, rev, pair[1]).Resources
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s: %s as %s differs from the recording (-want +got):\n%s", rev, pair[0], pair[1], diff)
			}
		}
	}
}

// fleetDelta computes the delta of rev over base on hosts, each host's
// reports made from the recorded report of template(host).
func fleetDelta(t *testing.T, rev, base string, hosts []string, template func(string) string) *delta.Result {
	t.Helper()
	var in []delta.HostInput
	for _, h := range hosts {
		tpl := template(h)
		in = append(in, delta.HostInput{
			Host:      h,
			Commit:    asHost(t, fleetReport(t, rev, tpl), h),
			Baselines: []delta.Baseline{{Revision: base, Report: asHost(t, fleetReport(t, base, tpl), h)}},
		})
	}
	return delta.Compute(rev, base, in, delta.Options{})
}

func recorded(h string) string { return h }

// bigFleet is n hosts, three of them (at a quarter, a half and three
// quarters) made from an outlier of the recording (node06), the others
// from node01.
func bigFleet(n int) ([]string, func(string) string) {
	var hs []string
	odd := map[string]bool{}
	for i := 1; i <= n; i++ {
		h := fmt.Sprintf("node%04d.example.com", i)
		hs = append(hs, h)
		if i == n/4 || i == n/2 || i == 3*n/4 {
			odd[h] = true
		}
	}
	return hs, func(h string) string {
		if odd[h] {
			return "node06.example.com"
		}
		return "node01.example.com"
	}
}

func TestGoldenFleet(t *testing.T) {
	tests := []struct {
		name string
		doc  review.Document
	}{
		{"fleet-per-host", review.Document{
			Repo: "puppet", Branch: "main", Complete: true,
			Commit: commit("1010101010101010101010101010101010101010", "band: port 8080; serial numbers"),
			Result: fleetDelta(t, "r1", "r0", fleetHosts, recorded),
		}},
		{"fleet-outliers", review.Document{
			Repo: "puppet", Branch: "main", Complete: true,
			Commit: commit("2020202020202020202020202020202020202020", "ntp: ntp2, and ntp-backup for node06-08"),
			Result: fleetDelta(t, "r2", "r1", fleetHosts, recorded),
		}},
		{"fleet-mix", review.Document{
			Repo: "puppet", Branch: "main", Complete: true,
			Commit: commit("3030303030303030303030303030303030303030", "motd, roles, band alias"),
			Result: fleetDelta(t, "r3", "r2", fleetHosts, recorded),
		}},
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

// visible is md with each <details> body replaced by its line count: what
// a reader sees before expanding anything.
func visible(md string) string {
	const open, close = "<details><summary>", "\n</details>"
	var b strings.Builder
	for {
		i := strings.Index(md, open)
		if i < 0 {
			return b.String() + md
		}
		j := i + strings.Index(md[i:], "</summary>\n") + len("</summary>\n")
		k := j + strings.Index(md[j:], close)
		fmt.Fprintf(&b, "%s\n(%d lines)\n", md[:j], strings.Count(strings.TrimSpace(md[j:k]), "\n")+1)
		md = md[k:]
	}
}

// At 1,000 hosts the review reads as it does at 12: the part
// shown before expanding anything does not grow with the fleet, it opens
// with the summary, and every group id is still in it (nothing is cut).
func TestFleetBig(t *testing.T) {
	render := func(n int) (string, *delta.Result) {
		hosts, tpl := bigFleet(n)
		res := fleetDelta(t, "r2", "r1", hosts, tpl)
		doc := review.Document{
			Repo: "puppet", Branch: "main", Complete: true, Result: res,
			Commit: commit("2020202020202020202020202020202020202020", "ntp: ntp2, and ntp-backup for three hosts"),
		}
		return review.Markdown(doc), res
	}
	md, res := render(1000)
	if len(res.Groups) != 1000 {
		t.Fatalf("the 1,000-host delta has %d groups, want 1,000 (ntp.conf names each host)", len(res.Groups))
	}
	golden(t, "fleet-big.md", visible(md))
	if !strings.HasPrefix(md, "# Noop of 2020202020: ntp: ntp2, and ntp-backup for three hosts\n\n**Summary:** 1,000 changes") {
		t.Errorf("the review does not open with its summary:\n%.300s", md)
	}
	shown := map[string]bool{}
	for _, f := range strings.Split(md, "`") {
		shown[f] = true
	}
	for _, g := range res.Groups {
		if !shown[g.ID] {
			t.Fatalf("group %s is not in the review", g.ID)
		}
	}
	small, _ := render(12)
	if a, b := strings.Count(visible(small), "\n"), strings.Count(visible(md), "\n"); a != b {
		t.Errorf("the visible review has %d lines at 12 hosts and %d at 1,000: it grows with the fleet", a, b)
	}
	t.Logf("1,000 hosts: review %d bytes, %d of them visible before expanding", len(md), len(visible(md)))
}
