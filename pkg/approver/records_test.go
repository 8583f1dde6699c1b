package approver_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/balcony-dev/balcony/pkg/approver"
	"github.com/balcony-dev/balcony/pkg/bus/bustest"
	"github.com/balcony-dev/balcony/pkg/delta"
	"github.com/balcony-dev/balcony/pkg/github"
	"github.com/balcony-dev/balcony/pkg/nooper"
	"github.com/balcony-dev/balcony/pkg/owners"
	"github.com/balcony-dev/balcony/pkg/protocol"
	"github.com/balcony-dev/balcony/pkg/report"
)

// The stored records' golden samples. Every field of every sample is set
// (TestRecordSamplesComplete), so each golden file shows every field's name
// on the wire; one entry per map, since msgpack writes maps in no fixed
// order.

var (
	recTime = time.Date(2025, 3, 1, 12, 0, 0, 123456789, time.UTC)
	recSHA  = "1111111111111111111111111111111111111111"
	recPar  = "2222222222222222222222222222222222222222"
)

func sampleCommit() protocol.Commit {
	return protocol.Commit{
		SHA: recSHA, Parents: []string{recPar}, Author: "Kermit", AuthorEmail: "kermit@example.com",
		Time: recTime, Subject: "motd: greet", Message: "motd: greet\n\nCo-authored-by: Piggy <piggy@example.com>\n",
	}
}

func sampleResource() report.Resource {
	return report.Resource{
		ID: "File[/etc/motd]", Type: "File", Title: "/etc/motd", File: "modules/motd/manifests/init.pp", Line: 7,
		DefineType: "Motd::Line[one]", ContainmentPath: []string{"Stage[main]", "Motd", "Motd::Line[one]", "File[/etc/motd]"},
		Events: []report.Event{{Property: "content", Previous: "{sha256}aa", Desired: "{sha256}bb", Status: "noop", Message: "would change"}},
		Diff:   "--- /etc/motd\n+++ /etc/motd\n@@ -1 +1 @@\n-hi\n+hello\n", Logs: []string{"Would have triggered 'refresh' from 1 event"},
		Failed: true, ChangedDuringNoop: true, NoopFalse: true,
	}
}

func sampleReport() *report.Report {
	return &report.Report{
		Host: "statler.example.com", PuppetVersion: "7.23.0", PuppetStatus: "changed", Noop: true, Failed: true,
		Errors: []string{"Could not find class ::nope"}, Resources: []report.Resource{sampleResource()},
		Time: recTime, Seconds: 1.5, NoopFalse: []string{"File[/etc/motd]"},
	}
}

func sampleGroup() delta.Group {
	return delta.Group{ID: "0123456789abcdef", Resource: sampleResource(), Hosts: []string{"statler.example.com"}, ChangedDuringNoop: true, NoopFalse: true}
}

func sampleResult() *delta.Result {
	return &delta.Result{
		Commit: recSHA, Parent: recPar, Hosts: []string{"statler.example.com", "waldorf.example.com"},
		Groups: []delta.Group{sampleGroup()}, Withdrawn: []delta.Group{sampleGroup()}, Drift: []delta.Group{sampleGroup()},
		Errors:     []delta.ErrorGroup{{Message: "Could not find class ::nope", Hosts: []string{"waldorf.example.com"}}},
		Baselines:  []delta.BaselineNote{{Host: "statler.example.com", Revision: recPar, Reason: delta.ReasonParentFailed}},
		Unanswered: []string{"fozzie.example.com"},
		PerHost:    map[string][]report.Resource{"statler.example.com": {sampleResource()}},
		Ignored: []delta.IgnoredNote{{Type: "File", Title: "/var/cache/.*", Purpose: "cache", Resources: []string{"File[/var/cache/x]"},
			Hosts: []string{"statler.example.com"}}},
		NoopFalse: []delta.NoopFalseNote{{Resource: "File[/etc/motd]", Hosts: []string{"statler.example.com"}}},
	}
}

func sampleOwnership(path string) owners.Ownership {
	return owners.Ownership{Path: path, From: owners.FromSourceFile, Container: "Motd", Pattern: "/modules/motd/", Line: 3,
		Owners: []string{"@kermit"}, Logins: []string{"kermit"}}
}

func sampleRecord() *approver.Record {
	return &approver.Record{
		Schema: protocol.SchemaVersion, Repo: "puppet", Branch: "main", Commit: sampleCommit(), NoopDigest: "ab12",
		Approvals: []owners.Approval{{Commit: recSHA, By: "gonzo", Source: owners.SourceCLI, At: recTime,
			Groups: map[string]string{"0123456789abcdef": "cd34"}, Ref: "github-comment:5"}},
		Status: owners.Status{
			Approved: true,
			Groups: []owners.GroupStatus{{
				ID: "0123456789abcdef", Digest: "cd34",
				Owners: owners.GroupOwners{
					File: sampleOwnership("modules/motd/manifests/init.pp"), Module: sampleOwnership("modules/motd/"),
					Nodes: []owners.NodeOwners{{Ownership: sampleOwnership("manifests/site.pp"), Hosts: []string{"statler.example.com"}}},
				},
				Approved: true, Via: []string{owners.ViaFile}, ApprovedBy: []string{"gonzo"}, Excluded: []string{"kermit"},
				Lapsed: []string{"rowlf"}, Missing: "one of @kermit",
			}},
			Authors: []string{"kermit"}, Unidentified: []string{"piggy@example.com"}, Problems: []string{"CODEOWNERS:4: bad"},
			HeldBack: []string{"1 host failed"},
		},
		Announced:            map[string]bool{"approval.complete": true},
		Pending:              map[string]string{"approval.complete": "approval.complete:nuid"},
		GitHub:               github.IssueState{Number: 12, StatusCommentID: 34, PartCommentIDs: []int64{56}, Closed: true, StatusPartCommentIDs: []int64{78}},
		GitHubSynced:         "ef56",
		GitHubReview:         "ab78",
		GitHubCommentsBefore: 99,
		SeenComments:         map[int64]bool{57: true},
	}
}

func sampleCollection() *nooper.Collection {
	return &nooper.Collection{
		Schema: protocol.SchemaVersion, Repo: "puppet", Branch: "main", Commit: sampleCommit(),
		Chain: []string{recPar}, State: nooper.StateReady, Hosts: []string{"statler.example.com"},
		LastApplied: map[string]string{"statler.example.com": recPar}, AppliedAt: map[string]time.Time{"statler.example.com": recTime},
		Needs: []nooper.Need{{Host: "statler.example.com", Revision: recSHA, RunID: "noop-1", Runs: []string{"noop-0", "noop-1"}, Attempts: 2, Deadline: recTime,
			Answered: true, Failed: true}},
		Started: recTime, Deadline: recTime, Finished: recTime, Generation: 1, RunTag: "r1", FirstDeadline: recTime,
		Result: sampleResult(), ResultObject: "noop-result-0123", Announced: true,
	}
}

// records are a sample of every record balcony keeps in a JetStream stream
// or bucket, by golden file name.
func records() map[string]any {
	return map[string]any{
		"commit-event": &protocol.CommitEvent{
			Schema: protocol.SchemaVersion, Repo: "puppet", Ref: "refs/heads/main", Branch: "main", Old: recPar, New: recSHA,
			Commits: []protocol.Commit{sampleCommit()}, Source: "hook", Time: recTime,
		},
		"run-request": &protocol.RunRequest{
			Schema: protocol.SchemaVersion, ID: "noop-1", Kind: protocol.KindNoop, Host: "statler.example.com", Revision: recSHA,
			Deadline: recTime, RequestedBy: "nooper", Time: recTime,
			From: recPar, Approved: []protocol.ApprovedCommit{{SHA: recSHA, Groups: map[string]string{"g1": "sha256:0a1b"}}},
		},
		"run-result": &protocol.RunResult{
			Schema: protocol.SchemaVersion, RunID: "noop-1", Kind: protocol.KindNoop, Host: "statler.example.com", Revision: recSHA,
			Outcome: protocol.OutcomeDone, Report: sampleReport(), StartedAt: recTime, FinishedAt: recTime, PuppetSeconds: 2.25,
		},
		"host-info": &protocol.HostInfo{
			Schema: protocol.SchemaVersion, Host: "statler.example.com", Version: "v1.2.3", Started: recTime, Seen: recTime,
			LastApplied: recPar, AppliedAt: recTime, AppliedRun: "apply-1", Busy: "noop-1", PuppetDisabled: "maintenance (gonzo)",
		},
		"github-comment": &protocol.GitHubComment{
			Schema: protocol.SchemaVersion, Repo: "muppets/puppet", Issue: 12, IssueBody: "<!-- balcony -->", CommentID: 57,
			Action: "created", Login: "gonzo", Body: "/approve", Time: recTime,
		},
		"noop-collection":  sampleCollection(),
		"approvals-record": sampleRecord(),
	}
}

// TestRecordsTagged fails when a field of a stored record, at any depth,
// has no msgpack tag: its name on the wire would be the Go field name, and
// renaming it would silently drop what is stored.
func TestRecordsTagged(t *testing.T) {
	var values []any
	for _, v := range records() {
		values = append(values, v)
	}
	for _, f := range bustest.Untagged(values...) {
		t.Errorf("%s has no msgpack tag", f)
	}
}

// TestRecordSamplesComplete keeps the golden samples whole: a field added
// to a record must be set in its sample, so its golden file shows it.
func TestRecordSamplesComplete(t *testing.T) {
	for name, v := range records() {
		for _, f := range bustest.Unset(v) {
			t.Errorf("%s: sample leaves %s unset", name, f)
		}
	}
}

// TestRecordsGolden pins the wire format of every stored record: today's
// encoding equals the golden file, and the golden file decodes to the
// sample, so records stored by earlier versions still read.
func TestRecordsGolden(t *testing.T) {
	for name, v := range records() {
		t.Run(name, func(t *testing.T) {
			bustest.Golden(t, filepath.Join("testdata", "records", name+".msgpack.hex"), *update, v)
		})
	}
}
