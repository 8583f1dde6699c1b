package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/balcony-dev/balcony/pkg/approver"
	"github.com/balcony-dev/balcony/pkg/bus/bustest"
	"github.com/balcony-dev/balcony/pkg/credentials"
	"github.com/balcony-dev/balcony/pkg/nooper"
	"github.com/balcony-dev/balcony/pkg/owners"
	"github.com/balcony-dev/balcony/pkg/protocol"
)

// startApprover starts the approver; the sample commits' author,
// kermit@example.com, is known as kermit.
func (f *fleet) startApprover(t *testing.T) {
	t.Helper()
	cfg := filepath.Join(f.dir, "approver.yaml")
	if err := os.WriteFile(cfg, []byte("logins:\n  kermit@example.com: kermit\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	addr, args := withMetrics(t, slices.Concat([]string{"approver"}, f.busArgs(credentials.Approver, ""), []string{"--repo", f.bare,
		"--state-dir", filepath.Join(f.dir, "approver"), "--config", cfg, "--log-level", "debug"}))
	f.approver = start(t, f.dir, "approver", args...)
	f.approver.metrics = addr
}

// TestApprovals: the sample history's deltas, nooped by real Puppet, are
// right (checkPipeline); owners from CODEOWNERS sign them off through the
// CLI; a re-noop that changes a group's content makes its approval lapse,
// one that leaves it identical keeps it.
func TestApprovals(t *testing.T) {
	f := newFleet(t, muppets)
	approvals := watchEvents(t, f.conn, "balcony.event.approval.>")
	f.startApprover(t)
	start := time.Now()
	motd := f.push(t, 1)
	seat := f.push(t, 2)
	merge := f.push(t, 3)
	checkPipeline(t, f, start, motd, seat, merge)
	cli := approver.Client{NC: f.conn.NC}
	ctx := context.Background()
	bin := filepath.Join(binaries(t), "approver")

	// The status names the owners still needed: motd's file and module
	// are kermit's, but kermit wrote the commit, so the owners of all
	// three node files must approve.
	out := run(t, f.dir, bin, "status", "--nats-url", f.url, motd[:10])
	for _, want := range []string{"NOT APPROVED", "missing:", "module modules/motd/ (by source file): @kermit", "manifests/nodes/waldorf.pp (@waldorf)"} {
		if !strings.Contains(out, want) {
			t.Errorf("approver status lacks %q:\n%s", want, out)
		}
	}
	out = run(t, f.dir, bin, "approve", "--nats-url", f.url, "--as", "gonzo", motd)
	if !strings.Contains(out, "approves no group") {
		t.Errorf("a non-owner's approval: %s", out)
	}
	out = run(t, f.dir, bin, "approve", "--nats-url", f.url, "--as", "kermit", motd)
	if !strings.Contains(out, "authors and co-authors never approve their own commit") {
		t.Errorf("the author's approval: %s", out)
	}
	wildcard := exec.Command(bin, "approve", "--nats-url", f.url, "--as", "*", motd)
	if out, err := wildcard.CombinedOutput(); err == nil || !strings.Contains(string(out), "is not a valid login") {
		t.Errorf("approve --as '*': %v\n%s", err, out)
	}
	st, err := cli.Status(ctx, motd)
	if err != nil {
		t.Fatal(err)
	}
	if st.Approved || len(st.Approvals) != 2 {
		t.Fatalf("after a non-owner's and the author's approvals: approved %v, %d approvals recorded", st.Approved, len(st.Approvals))
	}
	if ex := st.Status.Groups[0].Excluded; !slices.Contains(ex, "kermit") {
		t.Errorf("kermit not listed as excluded: %v", ex)
	}
	for _, node := range []string{"fozzie", "statler"} {
		if out := run(t, f.dir, bin, "approve", "--nats-url", f.url, "--as", node, motd); strings.Contains(out, "the commit is approved") {
			t.Errorf("approved before every node file's owner did: %s", out)
		}
	}
	out = run(t, f.dir, bin, "approve", "--nats-url", f.url, "--as", "waldorf", motd)
	if !strings.Contains(out, "the commit is approved") {
		t.Errorf("the last node file owner's approval: %s", out)
	}
	eventually(t, 10*time.Second, "approval.complete of "+motd, func() bool {
		return approvals.find(func(ev protocol.Event) bool { return ev.Type == "approval.complete" && ev.Commit == motd }) != nil
	})

	// A re-noop that leaves the group identical keeps its approval.
	if _, err := cli.Approve(ctx, seat, "statler", owners.SourceCLI, nil); err != nil {
		t.Fatal(err)
	}
	renoop(t, f, seat)
	if st, err := cli.Status(ctx, seat); err != nil || !st.Approved {
		t.Fatalf("seat after an identical re-noop: approved %v, %v", st != nil && st.Approved, err)
	}

	// A re-noop that changes the group makes its approval lapse: waldorf's
	// /etc/issue already has the merge's content, so the group loses it.
	if _, err := cli.Approve(ctx, merge, "ops", owners.SourceCLI, nil); err != nil {
		t.Fatal(err)
	}
	if st, _ := cli.Status(ctx, merge); !st.Approved {
		t.Fatalf("merge not approved by ops: %+v", st.Status)
	}
	issue := filepath.Join(f.root("waldorf.example.com"), "etc", "issue")
	if err := os.WriteFile(issue, []byte("Muppet Theater, stage left\nBalcony: Statler and Waldorf\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	renoop(t, f, merge)
	eventually(t, 30*time.Second, "merge's approval to lapse", func() bool {
		st, err := cli.Status(ctx, merge)
		return err == nil && !st.Approved && len(st.Status.Groups) > 0 && slices.Contains(st.Status.Groups[0].Lapsed, "ops")
	})
	eventually(t, 10*time.Second, "approval.lapsed of "+merge, func() bool {
		return approvals.find(func(ev protocol.Event) bool { return ev.Type == "approval.lapsed" && ev.Commit == merge }) != nil
	})
	c, _ := nooper.Load(ctx, f.conn.JS, merge)
	if g := onlyGroup(t, c, "File[/etc/issue]"); slices.Contains(g.Hosts, "waldorf.example.com") {
		t.Errorf("waldorf still in the group after its file was changed: %v", g.Hosts)
	}
}

// renoop noops sha again and waits for the new result.
func renoop(t *testing.T, f *fleet, sha string) {
	t.Helper()
	out := run(t, f.dir, filepath.Join(binaries(t), "nooper"), "renoop", "--nats-url", f.url, sha)
	if !strings.Contains(out, sha) {
		t.Fatalf("renoop: %s", out)
	}
	bustest.WhileMoving(t, f.conn, "the re-noop of "+sha, func() bool {
		c, err := nooper.Load(context.Background(), f.conn.JS, sha)
		return err == nil && c.Generation > 0 && c.State == nooper.StateReady
	}, "RUNS", "REPORTS", "KV_noops", "KV_reports")
}
