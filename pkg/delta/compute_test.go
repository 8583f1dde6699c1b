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

// TestComputeDeterministic checks that host order does not matter, that
// Digest is stable and changes with the content, and that the inputs are
// left as they were.
func TestComputeDeterministic(t *testing.T) {
	in := inputs(t, "r1", []string{"r0"}, "r0")
	before := fmt.Sprintf("%+v", *in[2].Commit)
	a := delta.Compute("r1", "r0", in, noise)
	rev := []delta.HostInput{in[2], in[0], in[1]}
	b := delta.Compute("r1", "r0", rev, noise)
	if diff := cmp.Diff(a, b); diff != "" {
		t.Errorf("host order changes the result (-a +b):\n%s", diff)
	}
	if a.Digest() != b.Digest() || len(a.Digest()) != 64 {
		t.Errorf("digests %q, %q", a.Digest(), b.Digest())
	}
	if after := fmt.Sprintf("%+v", *in[2].Commit); after != before {
		t.Error("Compute modified its input report")
	}
	c := delta.Compute("r1", "r0", in[:2], noise)
	if c.Digest() == a.Digest() {
		t.Error("digest ignores the host set")
	}
	for _, g := range a.Groups {
		if len(g.ID) != 16 || strings.Trim(g.ID, "0123456789abcdef") != "" {
			t.Errorf("group id %q is not 16 hex digits", g.ID)
		}
	}
}

func TestGroupKey(t *testing.T) {
	base := report.Resource{
		ID: "File[/etc/x]", Type: "File", Title: "/etc/x", File: "a.pp", Line: 3,
		ContainmentPath: []string{"Stage[main]", "Node[a]", "File[/etc/x]"},
		Events:          []report.Event{{Property: "content", Previous: "{md5}a", Desired: "{md5}b", Status: "noop"}},
	}
	same := base
	same.Line, same.ContainmentPath = 9, []string{"Stage[main]", "Node[b]", "File[/etc/x]"}
	otherFile := base
	otherFile.File = "b.pp"
	otherDefine := base
	otherDefine.DefineType = "Foo[x]"
	host := func(h string, r report.Resource) delta.HostInput {
		return delta.HostInput{Host: h, Commit: &report.Report{Host: h, Resources: []report.Resource{r}}}
	}
	got := delta.Compute("c", "p", []delta.HostInput{
		host("a", base), host("b", same), host("c", otherFile), host("d", otherDefine),
	}, delta.Options{})
	if diff := cmp.Diff([]string{
		"File[/etc/x] a.pp:a,b",
		"File[/etc/x] a.pp:d",
		"File[/etc/x] b.pp:c",
	}, summary(got.Groups)); diff != "" {
		t.Errorf("groups (-want +got):\n%s", diff)
	}
	if got.Groups[0].Resource.Line != 3 {
		t.Errorf("representative line %d, want the first host's 3", got.Groups[0].Resource.Line)
	}
}

func TestOptionsValidate(t *testing.T) {
	if err := noise.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
	for _, o := range []delta.Options{
		{Ignored: []delta.IgnoredResource{{Title: "x"}}},
		{Ignored: []delta.IgnoredResource{{Type: "File", Title: "(("}}},
	} {
		if o.Validate() == nil {
			t.Errorf("Validate(%+v) = nil", o)
		}
	}
	// An invalid title matches literally.
	in := []delta.HostInput{{Host: "h", Commit: &report.Report{Resources: []report.Resource{{ID: "File[((]", Type: "File", Title: "(("}}}}}
	got := delta.Compute("c", "p", in, delta.Options{Ignored: []delta.IgnoredResource{{Type: "File", Title: "(("}}})
	if len(got.Groups) != 0 || len(got.Ignored) != 1 {
		t.Errorf("invalid title not matched literally: %+v", got)
	}
}

// BenchmarkCompute1000x500 computes the delta of 1,000 hosts with 500
// changed resources each, built from recorded reports: 480 resources the
// same in parent and commit (permadiffs, drift), 20 of the commit's own,
// half identical on all hosts, half in one of 10 variants.
func BenchmarkCompute1000x500(b *testing.B) {
	proto := reporttest.Load(b, "r1", "fozzie.example.com")
	var app report.Resource
	for _, r := range proto.Resources {
		if r.ID == "File[/etc/app.conf]" {
			app = r
		}
	}
	mk := func(id string, diff string) report.Resource {
		r := app
		r.ID, r.Title = "File["+id+"]", id
		r.Diff = strings.ReplaceAll(diff, "/etc/app.conf", id)
		return r
	}
	const hosts, same, own = 1000, 480, 20
	var in []delta.HostInput
	for h := range hosts {
		name := fmt.Sprintf("host%04d.example.com", h)
		var parent, commit []report.Resource
		for i := range same {
			r := mk(fmt.Sprintf("/etc/same/%03d", i), app.Diff)
			parent = append(parent, r)
			commit = append(commit, r)
		}
		for i := range own {
			d := app.Diff
			if i%2 == 1 {
				d = strings.Replace(d, "+workers=4", fmt.Sprintf("+workers=%d", h%10), 1)
			}
			commit = append(commit, mk(fmt.Sprintf("/etc/own/%03d", i), d))
		}
		in = append(in, delta.HostInput{
			Host:      name,
			Commit:    &report.Report{Host: name, Noop: true, Resources: sortByID(commit)},
			Baselines: []delta.Baseline{{Revision: "p", Report: &report.Report{Host: name, Noop: true, Resources: sortByID(parent)}}},
		})
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		r := delta.Compute("c", "p", in, delta.Options{Ignored: []delta.IgnoredResource{stamp}})
		if len(r.Groups) != own/2+own/2*10 {
			b.Fatalf("%d groups", len(r.Groups))
		}
	}
}

func sortByID(rs []report.Resource) []report.Resource {
	out := append([]report.Resource(nil), rs...)
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].ID < out[j-1].ID; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// TestIgnoredListsOnlyTheCommitsOwn: the ignore rules report what they
// removed from the commit's own and withdrawn changes, never noise that
// the parent or the last applied revision shows identically.
func TestIgnoredListsOnlyTheCommitsOwn(t *testing.T) {
	stampAt := func(v string) report.Resource {
		return report.Resource{ID: "File[/var/stamp]", Type: "File", Title: "/var/stamp", File: "site.pp",
			Events: []report.Event{{Property: "content", Previous: "{md5}0", Desired: "{md5}" + v, Status: "noop"}}}
	}
	motd := report.Resource{ID: "File[/etc/motd]", Type: "File", Title: "/etc/motd", File: "site.pp",
		Events: []report.Event{{Property: "content", Previous: "{md5}0", Desired: "{md5}1", Status: "noop"}}}
	noop := func(rs ...report.Resource) *report.Report {
		return &report.Report{Host: "h", Noop: true, Resources: rs}
	}
	tests := []struct {
		name                    string
		commit, parent, applied *report.Report
		want                    []string // resources listed as ignored
	}{
		{"pending alike in the parent", noop(motd, stampAt("1")), noop(stampAt("1")), nil, nil},
		{"changed by the commit", noop(motd, stampAt("2")), noop(stampAt("1")), nil, []string{"File[/var/stamp]"}},
		{"brought by the commit", noop(motd, stampAt("1")), noop(), nil, []string{"File[/var/stamp]"}},
		{"withdrawn by the commit", noop(motd), noop(stampAt("1")), nil, []string{"File[/var/stamp]"}},
		{"drift only", noop(motd, stampAt("1")), noop(stampAt("1")), noop(stampAt("1")), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := []delta.HostInput{{Host: "h", Commit: tt.commit, Baselines: []delta.Baseline{{Revision: "p", Report: tt.parent}}}}
			if tt.applied != nil {
				in[0].LastApplied = &delta.Baseline{Revision: "a", Report: tt.applied}
			}
			r := delta.Compute("c", "p", in, delta.Options{Ignored: []delta.IgnoredResource{stamp}})
			var got []string
			for _, n := range r.Ignored {
				got = append(got, n.Resources...)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ignored (-want +got):\n%s", diff)
			}
			if len(r.Groups) != 1 || r.Groups[0].Resource.ID != "File[/etc/motd]" || len(r.Drift) != 0 {
				t.Errorf("groups %v, drift %v: want motd alone, no drift", summary(r.Groups), summary(r.Drift))
			}
		})
	}
}
