package approver_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/balcony-dev/balcony/pkg/delta"
	"github.com/balcony-dev/balcony/pkg/report"
	"github.com/balcony-dev/balcony/pkg/review"
)

// concatGroup is a file built by concat from fragments declared in the
// motd class: Puppet generates File[/etc/motd] with no source file, so
// its module is the one of the class that holds it.
var concatGroup = delta.Group{
	ID: "c0ca70000003",
	Resource: report.Resource{
		ID: "File[/etc/motd]", Type: "File", Title: "/etc/motd",
		ContainmentPath: []string{"Stage[main]", "Motd", "Concat[/etc/motd]", "File[/etc/motd]"},
		DefineType:      "Concat[/etc/motd]",
		Events:          []report.Event{{Property: "content", Previous: "{md5}0", Desired: "{md5}1", Status: "noop"}},
	},
	Hosts: []string{"statler.example.com"},
}

// TestModuleFromContainmentPath: the owners of modules/motd (the
// muppets/ops team) approve a change with no source file that the motd
// class declared, and the status says where that ownership comes from.
func TestModuleFromContainmentPath(t *testing.T) {
	h := start(t)
	c := commit("motd by concat")
	h.putNoop(c, []delta.Group{concatGroup})
	r := h.approve(c.SHA, "scooter")
	if !r.Approved || !slices.Equal(r.Counted, []string{concatGroup.ID}) {
		t.Fatalf("scooter, of the team owning modules/motd, approves: %+v", r)
	}
	st := h.status(c.SHA)
	g := groupStatus(t, st, concatGroup.ID)
	if m := g.Owners.Module; m.Path != "modules/motd/" || !slices.Equal(g.Via, []string{"module"}) {
		t.Errorf("module ownership %+v via %v, want modules/motd/ via module", m, g.Via)
	}
	md := review.ApprovalMarkdown(st.View())
	if want := `module modules/motd/ (by containment path "Motd"): @muppets/ops`; !strings.Contains(md, want) {
		t.Errorf("status lacks %q:\n%s", want, md)
	}
}
