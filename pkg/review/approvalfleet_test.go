package review_test

import (
	"strings"
	"testing"
	"time"

	"github.com/balcony-dev/balcony/pkg/delta"
	"github.com/balcony-dev/balcony/pkg/owners"
	"github.com/balcony-dev/balcony/pkg/protocol"
	"github.com/balcony-dev/balcony/pkg/review"
)

// fleetApproval is the approval status of the recorded ntp change on n
// hosts (three of them outliers), evaluated by the owners package: the
// manifests are @web-team's, every host is a node of manifests/site.pp,
// the author is kermit, and the admin ops-lead approved the first ten
// groups of the majority (`approver approve --group`).
func fleetApproval(t *testing.T, n int) (review.ApprovalView, *delta.Result) {
	t.Helper()
	hosts, tpl := bigFleet(n)
	res := fleetDelta(t, "r2", "r1", hosts, tpl)
	m, err := owners.New(owners.Input{
		CodeOwners: map[string][]byte{".github/CODEOWNERS": []byte("/manifests/ @web-team\n")},
		Manifests:  map[string][]byte{"manifests/site.pp": []byte("node default {}\n")},
		Admins:     []string{"ops-lead"},
		Logins:     map[string]string{"kermit@example.com": "kermit"},
	})
	if err != nil {
		t.Fatal(err)
	}
	c := protocol.Commit{SHA: "2020202020202020202020202020202020202020", Subject: "ntp: ntp2, and ntp-backup for three hosts",
		Author: "Kermit", AuthorEmail: "kermit@example.com"}
	digests := owners.Digests(res.Groups)
	some := map[string]string{}
	for _, g := range res.Groups {
		if len(some) < 10 && g.Resource.Diff != "" && !strings.Contains(g.Resource.Diff, "ntp-backup") {
			some[g.ID] = digests[g.ID]
		}
	}
	aps := []owners.Approval{{Commit: c.SHA, By: "ops-lead", Source: owners.SourceCLI,
		At: time.Date(2026, 11, 26, 7, 0, 0, 0, time.UTC), Groups: some}}
	v := review.ApprovalView{Commit: c, Ready: true, Changes: res.Groups, Approvals: aps,
		Status: owners.Evaluate(m, c, res.Groups, aps)}
	for _, g := range res.Groups {
		v.Groups = append(v.Groups, review.ApprovalGroup{ID: g.ID, Resource: g.Resource.ID, Hosts: g.Hosts})
	}
	return v, res
}

// At 1,003 hosts, one group each (1,000 change ntp.conf one way, 3
// another), the status is a handful of lines: a summary, the outliers
// first, pending before approved; what shows before expanding anything does
// not grow with the fleet, and every group id is still there.
func TestApprovalFleet(t *testing.T) {
	v, res := fleetApproval(t, 1003)
	if len(res.Groups) != 1003 {
		t.Fatalf("%d groups, want 1,003 (ntp.conf names each host)", len(res.Groups))
	}
	md := review.ApprovalMarkdown(v)
	golden(t, "approval-fleet.md", visible(md))
	if !strings.Contains(md, "\n**Summary:** 1,003 groups in 3 lines: 10 approved, 993 pending") {
		t.Errorf("the status does not open with its summary:\n%.600s", md)
	}
	outlier, pending, approved := strings.Index(md, "**outlier**"), strings.Index(md, "990 groups, one per variant"), strings.Index(md, "approved by ops-lead")
	if outlier < 0 || pending < 0 || approved < 0 || !(outlier < pending && pending < approved) {
		t.Errorf("want the outliers (at %d), then the pending majority (at %d), then the approved (at %d)", outlier, pending, approved)
	}
	for _, view := range []struct {
		name string
		v    review.ApprovalView
	}{{"folded", v}, {"without changes (approver status)", func() review.ApprovalView { w := v; w.Changes = nil; return w }()}} {
		md := review.ApprovalMarkdown(view.v)
		shown := map[string]bool{}
		for _, f := range strings.Split(md, "`") {
			shown[f] = true
		}
		for _, g := range res.Groups {
			if !shown[g.ID] {
				t.Fatalf("%s: group %s is not in the status", view.name, g.ID)
			}
		}
		t.Logf("%s: status of 1,003 groups is %d bytes, %d of them visible before expanding", view.name, len(md), len(visible(md)))
	}
	small, _ := fleetApproval(t, 24)
	if a, b := strings.Count(visible(review.ApprovalMarkdown(small)), "\n"), strings.Count(visible(md), "\n"); a != b {
		t.Errorf("the visible status has %d lines at 24 hosts and %d at 1,003: it grows with the fleet", a, b)
	}
}
