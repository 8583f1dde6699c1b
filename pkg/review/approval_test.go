package review_test

import (
	"strings"
	"testing"
	"time"

	"github.com/balcony-dev/balcony/pkg/owners"
	"github.com/balcony-dev/balcony/pkg/protocol"
	"github.com/balcony-dev/balcony/pkg/review"
)

func TestApprovalMarkdown(t *testing.T) {
	commit := protocol.Commit{SHA: "0123456789abcdef0123456789abcdef01234567", Subject: "motd: greet", Author: "Kermit"}
	at := time.Date(2026, 11, 26, 7, 0, 0, 0, time.UTC)
	nodes := []owners.NodeOwners{
		{Ownership: owners.Ownership{Path: "manifests/nodes/fozzie.pp", Owners: []string{"@fozzie"}}, Hosts: []string{"fozzie.example.com"}},
		{Ownership: owners.Ownership{Path: "manifests/nodes/statler.pp", Owners: []string{"@statler"}}, Hosts: []string{"statler.example.com"}},
	}
	groups := []review.ApprovalGroup{
		{ID: "g1", Resource: "File[/etc/motd]", Hosts: []string{"fozzie.example.com", "statler.example.com"}},
		{ID: "g2", Resource: "Service[nginx]", Hosts: []string{"statler.example.com"}},
		{ID: "g3", Resource: "File[/etc/issue]", Hosts: []string{"fozzie.example.com"}},
	}
	for _, tt := range []struct {
		name string
		view review.ApprovalView
	}{
		{"approval-pending", review.ApprovalView{
			Commit: commit, Ready: true, Groups: groups,
			Status: owners.Status{Authors: []string{"kermit"}, Groups: []owners.GroupStatus{
				{ID: "g1", Owners: owners.GroupOwners{
					File:   owners.Ownership{Path: "modules/motd/manifests/init.pp", From: owners.FromSourceFile, Owners: []string{"@kermit"}},
					Module: owners.Ownership{Path: "modules/motd/", From: owners.FromSourceFile, Owners: []string{"@kermit"}},
					Nodes:  nodes,
				}, Missing: "needs an approval from owners of every node file", Excluded: []string{"kermit"}},
				{ID: "g2", Approved: true, ApprovedBy: []string{"ops"}, Via: []string{"admin"}, Lapsed: []string{"statler"},
					Owners: owners.GroupOwners{File: owners.Ownership{Path: "manifests/nodes/statler.pp", From: owners.FromSourceFile, Owners: []string{"@statler", "waldorf@muppets.example"}}}},
				{ID: "g3", Owners: owners.GroupOwners{
					Module: owners.Ownership{Path: "modules/issue/", From: owners.FromContainment, Container: "Issue", Owners: []string{"@muppets/ops"}},
					Nodes:  nodes[:1],
				}, Missing: "needs an approval from an owner of module modules/issue/ (@muppets/ops), or owners of every node file"},
			}},
			Approvals: []owners.Approval{{By: "ops", Source: "cli", At: at, Groups: map[string]string{"g2": "d"}}},
		}},
		{"approval-empty", review.ApprovalView{Commit: commit, Ready: true, Status: owners.Status{Approved: true}}},
		{"approval-waiting", review.ApprovalView{Commit: commit}},
		{"approval-warnings", review.ApprovalView{
			Commit: commit, Ready: true, Groups: groups[:1],
			Status: owners.Status{Groups: []owners.GroupStatus{
				{ID: "g1", Owners: owners.GroupOwners{Nodes: []owners.NodeOwners{{Hosts: groups[0].Hosts}}},
					Missing: "nobody can approve: there is no owner who is not an author and no admin"},
			}},
			Warnings: []string{"no node statement found in manifests at 0123456789ab (Puppet's default: no manifest in environment.conf): no host has a node file"},
		}},
		{"approval-held-back", review.ApprovalView{Commit: commit, Ready: true, Status: owners.Status{HeldBack: []string{
			"1 host did not answer the noop (waldorf.example.com): re-noop before approving",
			"the noop failed on statler.example.com (Syntax error): fix or re-noop before approving",
		}}}},
		{"approval-withdrawn", review.ApprovalView{Commit: commit, Ready: true, Status: owners.Status{Approved: true},
			Withdrawn: []review.ApprovalGroup{{ID: "w1", Resource: "File[/etc/motd]", Hosts: []string{"fozzie.example.com", "statler.example.com"}}}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			golden(t, tt.name+".md", review.ApprovalMarkdown(tt.view))
		})
	}
}

// A commit held back with no groups (its noop failed on a host) is not
// approved: its status must not also say it has no changes.
func TestApprovalMarkdownHeldBackNoGroups(t *testing.T) {
	commit := protocol.Commit{SHA: "0123456789abcdef0123456789abcdef01234567", Subject: "motd: greet", Author: "Kermit"}
	md := review.ApprovalMarkdown(review.ApprovalView{Commit: commit, Ready: true,
		Status: owners.Status{HeldBack: []string{"the noop failed on statler.example.com (Syntax error): fix or re-noop before approving"}}})
	if !strings.Contains(md, "NOT APPROVED") || strings.Contains(md, "No changes") || strings.Contains(md, "approved by itself") {
		t.Errorf("status of a held-back commit with no groups:\n%s", md)
	}
}
