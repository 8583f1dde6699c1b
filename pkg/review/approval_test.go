package review_test

import (
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
		{Ownership: owners.Ownership{Path: "manifests/nodes/fozzie.pp", Owners: []string{"fozzie"}}, Hosts: []string{"fozzie.example.com"}},
		{Ownership: owners.Ownership{Path: "manifests/nodes/statler.pp", Owners: []string{"statler"}}, Hosts: []string{"statler.example.com"}},
	}
	groups := []review.ApprovalGroup{
		{ID: "g1", Resource: "File[/etc/motd]", Hosts: []string{"fozzie.example.com", "statler.example.com"}},
		{ID: "g2", Resource: "Service[nginx]", Hosts: []string{"statler.example.com"}},
	}
	for _, tt := range []struct {
		name string
		view review.ApprovalView
	}{
		{"approval-pending", review.ApprovalView{
			Commit: commit, Ready: true, Groups: groups,
			Status: owners.Status{Groups: []owners.GroupStatus{
				{ID: "g1", Owners: owners.GroupOwners{
					File:   owners.Ownership{Path: "modules/motd/manifests/init.pp", Owners: []string{"kermit"}},
					Module: owners.Ownership{Path: "modules/motd/", Owners: []string{"kermit"}},
					Nodes:  nodes,
				}, Missing: "needs an approval from owners of every node file", Excluded: []string{"kermit"}},
				{ID: "g2", Approved: true, ApprovedBy: []string{"ops"}, Via: []string{"admin"}, Lapsed: []string{"statler"},
					Owners: owners.GroupOwners{File: owners.Ownership{Path: "manifests/nodes/statler.pp", Owners: []string{"statler"}}}},
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
	} {
		t.Run(tt.name, func(t *testing.T) {
			golden(t, tt.name+".md", review.ApprovalMarkdown(tt.view))
		})
	}
}
