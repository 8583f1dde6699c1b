package delta_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/balcony-dev/balcony/pkg/delta"
	"github.com/balcony-dev/balcony/pkg/report"
)

// TestComputeNoopFalse: the resources that ask for noop => false are
// listed with their hosts, changed or not, and a group is marked when the
// resource asks for it on any of its hosts. Nothing else changes: the
// group is the same change, of the same ID, as without the mark.
func TestComputeNoopFalse(t *testing.T) {
	change := report.Resource{
		ID: "File[/etc/x]", Type: "File", Title: "/etc/x", File: "a.pp", Line: 3,
		Events: []report.Event{{Property: "content", Previous: "{md5}a", Desired: "{md5}b", Status: "noop"}},
	}
	marked := change
	marked.NoopFalse = true
	commit := func(h string, noopFalse []string, rs ...report.Resource) delta.HostInput {
		return delta.HostInput{Host: h, Commit: &report.Report{Host: h, Resources: rs, NoopFalse: noopFalse}}
	}
	in := []delta.HostInput{
		commit("b.example.com", []string{"Exec[in sync]", "File[/etc/x]"}, marked),
		commit("a.example.com", nil, change),
		commit("c.example.com", []string{"Exec[in sync]"}),
		{Host: "d.example.com", Commit: &report.Report{Host: "d.example.com", Failed: true, Errors: []string{"boom"}}},
	}
	got := delta.Compute("c", "p", in, delta.Options{})
	want := []delta.NoopFalseNote{
		{Resource: "Exec[in sync]", Hosts: []string{"b.example.com", "c.example.com"}},
		{Resource: "File[/etc/x]", Hosts: []string{"b.example.com"}},
	}
	if diff := cmp.Diff(want, got.NoopFalse); diff != "" {
		t.Errorf("NoopFalse (-want +got):\n%s", diff)
	}
	if len(got.Groups) != 1 || !got.Groups[0].NoopFalse || len(got.Groups[0].Hosts) != 2 {
		t.Fatalf("groups %+v, want one on a and b, marked", got.Groups)
	}

	plain := delta.Compute("c", "p", []delta.HostInput{in[1], commit("b.example.com", nil, change), commit("c.example.com", nil), in[3]}, delta.Options{})
	if len(plain.Groups) != 1 || plain.Groups[0].NoopFalse || plain.Groups[0].ID != got.Groups[0].ID {
		t.Errorf("unmarked groups %+v, want the same group, unmarked", plain.Groups)
	}
	if plain.NoopFalse != nil {
		t.Errorf("NoopFalse %+v without any", plain.NoopFalse)
	}
	if plain.Digest() == got.Digest() {
		t.Error("the digest ignores noop => false")
	}
}
