package fold_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/balcony-dev/balcony/pkg/delta"
	"github.com/balcony-dev/balcony/pkg/fold"
	"github.com/balcony-dev/balcony/pkg/report"
)

// change is a File[/etc/band.conf] group on hosts whose content is desired
// (with {c} and {h} replaced by the first host's certname and hostname).
func change(id, desired string, hosts ...string) delta.Group {
	short, _, _ := strings.Cut(hosts[0], ".")
	desired = strings.NewReplacer("{c}", hosts[0], "{h}", short).Replace(desired)
	return delta.Group{ID: id, Hosts: hosts, Resource: report.Resource{
		ID: "File[/etc/band.conf]", Type: "File", Title: "/etc/band.conf", File: "manifests/site.pp", Line: 3,
		Events: []report.Event{{Property: "content", Previous: "{sha256}old", Desired: "{sha256}" + desired, Status: "noop"}},
		Diff:   "--- /etc/band.conf\n+++ /etc/band.conf\n@@ -1 +1 @@\n-port=80\n+" + desired + "\n",
	}}
}

func node(i int) string { return fmt.Sprintf("node%02d.example.com", i) }

// brief is what a test compares of a fold.
type brief struct {
	Desired  string
	Hosts    int
	Variants int
	Outlier  bool
	Majority bool
}

func briefs(rs []fold.Resource) map[string][]brief {
	out := map[string][]brief{}
	for _, r := range rs {
		for _, f := range r.Folds {
			out[r.ID] = append(out[r.ID], brief{f.Pattern.Events[0].Desired, len(f.Hosts), len(f.Variants), f.Outlier, f.Majority})
		}
	}
	return out
}

func TestSection(t *testing.T) {
	tests := []struct {
		name   string
		groups []delta.Group
		want   []brief
	}{
		{"certname and hostname", []delta.Group{
			change("01", "host={c} name={h}", node(1)),
			change("02", "host={c} name={h}", node(2)),
			change("03", "host={c} name={h}", node(3)),
		}, []brief{{"{sha256}host=<certname> name=<hostname>", 3, 3, false, false}}},
		{"a value of every host's own", []delta.Group{
			change("01", "serial=a1f3", node(1)),
			change("02", "serial=77b0", node(2)),
			change("03", "serial=c0de", node(3)),
		}, []brief{{"{sha256}serial=<per-host>", 3, 3, false, false}}},
		{"outliers first", []delta.Group{
			change("01", "host={c} port=8080", node(1)),
			change("02", "host={c} port=8080", node(2)),
			change("03", "host={c} port=9090", node(3)),
			change("04", "host={c} port=8080", node(4)),
			change("05", "host={c} port=8080", node(5)),
		}, []brief{
			{"{sha256}host=node03.example.com port=9090", 1, 1, true, false},
			{"{sha256}host=<certname> port=8080", 4, 4, false, true},
		}},
		{"a value shared by several hosts is shown, never a placeholder", []delta.Group{
			change("01", "server=ntp2", node(1), node(2), node(4)),
			change("03", "server=ntp3", node(3)),
		}, []brief{
			{"{sha256}server=ntp3", 1, 1, true, false},
			{"{sha256}server=ntp2", 3, 1, false, true},
		}},
		{"hosts with their own value fold; two sharing one stay apart", []delta.Group{
			change("01", "serial=a1f3", node(1)),
			change("02", "serial=0000", node(2), node(4)),
			change("03", "serial=c0de", node(3)),
			change("05", "serial=d00d", node(5)),
		}, []brief{
			{"{sha256}serial=0000", 2, 1, true, false},
			{"{sha256}serial=<per-host>", 3, 3, false, true},
		}},
		{"tie: no majority, most hosts first", []delta.Group{
			change("01", "role=web", node(1), node(2)),
			change("02", "role=db", node(3), node(4)),
		}, []brief{
			{"{sha256}role=web", 2, 1, false, false},
			{"{sha256}role=db", 2, 1, false, false},
		}},
		{"a name beside a hyphen is the host's", []delta.Group{
			change("01", "alias={h}-band", node(1)),
			change("02", "alias={h}-band", node(2)),
		}, []brief{{"{sha256}alias=<hostname>-band", 2, 2, false, false}}},
		{"a name inside a longer word is not the host's", []delta.Group{
			change("01", "peer=node010 self={h}", node(1)),
			change("02", "peer=node010 self={h}", node(2)),
		}, []brief{{"{sha256}peer=node010 self=<hostname>", 2, 2, false, false}}},
		{"two hosts that differ are two changes", []delta.Group{
			change("01", "serial=a1f3", node(1)),
			change("02", "serial=77b0", node(2)),
		}, []brief{
			{"{sha256}serial=a1f3", 1, 1, false, false},
			{"{sha256}serial=77b0", 1, 1, false, false},
		}},
		{"changes alike only in length are not folded", []delta.Group{
			change("01", "a b", node(1)),
			change("02", "c d", node(2)),
			change("03", "e f", node(3)),
		}, []brief{
			{"{sha256}a b", 1, 1, false, false},
			{"{sha256}c d", 1, 1, false, false},
			{"{sha256}e f", 1, 1, false, false},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := briefs(fold.Section(tt.groups))["File[/etc/band.conf]"]
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("folds differ (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSectionPattern(t *testing.T) {
	var gs []delta.Group
	for i := 1; i <= 3; i++ {
		gs = append(gs, change(fmt.Sprintf("%02d", i), "host={c} serial=s"+strings.Repeat("9", i), node(i)))
	}
	rs := fold.Section(gs)
	if len(rs) != 1 || len(rs[0].Folds) != 1 {
		t.Fatalf("want one fold, got %+v", rs)
	}
	f := rs[0].Folds[0]
	want := "--- /etc/band.conf\n+++ /etc/band.conf\n@@ -1 +1 @@\n-port=80\n+host=<certname> serial=<per-host>\n"
	if f.Pattern.Diff != want {
		t.Errorf("pattern diff:\n%s\nwant:\n%s", f.Pattern.Diff, want)
	}
	wantVariants := []fold.Variant{
		{ID: "01", Hosts: []string{node(1)}, Values: []string{"s9", "s9"}},
		{ID: "02", Hosts: []string{node(2)}, Values: []string{"s99", "s99"}},
		{ID: "03", Hosts: []string{node(3)}, Values: []string{"s999", "s999"}},
	}
	if diff := cmp.Diff(wantVariants, f.Variants); diff != "" {
		t.Errorf("variants (-want +got):\n%s", diff)
	}
	if rs[0].Hosts != 3 || rs[0].Groups != 3 {
		t.Errorf("resource counts %d hosts, %d groups; want 3, 3", rs[0].Hosts, rs[0].Groups)
	}
}

// A resource declared in two files has two sets of owners: never one fold.
func TestSectionKeepsSourcesApart(t *testing.T) {
	a, b := change("01", "host={c}", node(1)), change("02", "host={c}", node(2))
	b.Resource.File = "modules/band/manifests/init.pp"
	rs := fold.Section([]delta.Group{a, b})
	if len(rs) != 1 || len(rs[0].Folds) != 2 {
		t.Fatalf("want one resource with two folds, got %+v", rs)
	}
	for _, f := range rs[0].Folds {
		if f.Outlier || f.Majority {
			t.Errorf("a tie marked an outlier or a majority: %+v", f)
		}
	}
}

func TestSectionOrdersResourcesWithOutliersFirst(t *testing.T) {
	motd := change("m1", "hello", node(1), node(2), node(3))
	motd.Resource.ID, motd.Resource.Title = "File[/etc/motd]", "/etc/motd"
	gs := []delta.Group{
		change("01", "x=1", node(1), node(2)),
		change("02", "x=2", node(3)),
		motd,
	}
	// delta sorts groups by resource id: band.conf before motd. Give motd
	// the outlier instead and check it comes first.
	gs[1].Resource.ID, gs[1].Resource.Title = "File[/etc/zzz]", "/etc/zzz"
	gs[0].Resource.ID, gs[0].Resource.Title = "File[/etc/zzz]", "/etc/zzz"
	var ids []string
	for _, r := range fold.Section(gs) {
		ids = append(ids, r.ID)
	}
	if want := []string{"File[/etc/zzz]", "File[/etc/motd]"}; !cmp.Equal(ids, want) {
		t.Errorf("resources in order %q, want %q", ids, want)
	}
}

func TestSectionDoesNotModify(t *testing.T) {
	gs := []delta.Group{change("01", "host={c}", node(1)), change("02", "host={c}", node(2))}
	before := fmt.Sprintf("%#v", gs)
	fold.Section(gs)
	if after := fmt.Sprintf("%#v", gs); after != before {
		t.Errorf("Section modified its groups")
	}
}

// BenchmarkSection10000 folds one change that names each of 10,000 hosts
// and carries a value of its own on each, three hosts differing: the
// figure is reported, not asserted.
func BenchmarkSection10000(b *testing.B) {
	var gs []delta.Group
	for i := 1; i <= 10000; i++ {
		h := fmt.Sprintf("node%05d.example.com", i)
		port := "8080"
		if i%3333 == 0 {
			port = "9090"
		}
		gs = append(gs, change(fmt.Sprintf("%016x", i), fmt.Sprintf("host={c} port=%s serial=%08x", port, i*7919), h))
	}
	b.ResetTimer()
	for b.Loop() {
		rs := fold.Section(gs)
		if len(rs) != 1 || len(rs[0].Folds) != 2 {
			b.Fatalf("want one resource, two folds; got %+v", rs)
		}
	}
}
