package approver_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/balcony-dev/balcony/pkg/committer"
	"github.com/balcony-dev/balcony/pkg/delta"
	"github.com/balcony-dev/balcony/pkg/github/githubtest"
	"github.com/balcony-dev/balcony/pkg/owners"
	"github.com/balcony-dev/balcony/pkg/protocol"
	"github.com/balcony-dev/balcony/pkg/report"
)

// settleComments waits until the approver has acknowledged or terminated
// every message of the GITHUB stream.
func (h *harness) settleComments() {
	t := h.t
	t.Helper()
	ctx := context.Background()
	s, err := h.conn.JS.Stream(ctx, "GITHUB")
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	last := info.State.LastSeq
	eventually(t, wait, "the approver handles every GitHub comment", func() bool {
		c, err := h.conn.JS.Consumer(ctx, "GITHUB", "approver-github")
		if err != nil {
			return false
		}
		ci, err := c.Info(ctx)
		return err == nil && ci.AckFloor.Stream >= last && ci.NumAckPending == 0
	})
}

func TestGitHubCommentFromTheBus(t *testing.T) {
	h, gh := startGitHub(t, time.Hour, nil) // no poll: only the bus brings comments
	pub := committer.BusPublisher{Conn: h.conn}
	c := commit("comments by webhook")
	h.putNoop(c, []delta.Group{siteGroup})
	h.publishReady(c.SHA)
	h.settle()
	issue := theIssue(t, gh, c.SHA)
	ctx := context.Background()
	comment := func(id int64, action, login, body string) protocol.GitHubComment {
		return protocol.GitHubComment{
			Schema: protocol.SchemaVersion, Repo: githubtest.Owner + "/" + githubtest.Repo,
			Issue: issue.Number, IssueBody: issue.Body, CommentID: id, Action: action,
			Login: login, Body: body, Time: githubtest.Epoch,
		}
	}

	for _, m := range []protocol.GitHubComment{
		comment(501, "created", "rowlf", "approved"),         // not an owner
		comment(502, "created", "kermit", "looks good, but"), // not an approval
		comment(503, "deleted", "fozzie", "approved"),        // a deletion approves nothing
	} {
		if err := pub.PublishComment(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	h.settleComments()
	st := h.status(c.SHA)
	if st.Approved || len(st.Approvals) != 1 || st.Approvals[0].By != "rowlf" || st.Approvals[0].Source != owners.SourceGitHub {
		t.Fatalf("approved %v approvals %+v, want rowlf's from github only, not counted", st.Approved, st.Approvals)
	}

	if err := pub.PublishComment(ctx, comment(504, "created", "kermit", "Approved!")); err != nil {
		t.Fatal(err)
	}
	// An edit of the same comment is read again but counts once.
	if err := pub.PublishComment(ctx, comment(504, "edited", "kermit", "Approved! (edited)")); err != nil {
		t.Fatal(err)
	}
	h.settleComments()
	st = h.status(c.SHA)
	if !st.Approved || len(st.Approvals) != 2 {
		t.Errorf("approved %v approvals %+v, want kermit's approval counted once", st.Approved, st.Approvals)
	}
	if got := theIssue(t, gh, c.SHA).State; got != "closed" {
		t.Errorf("issue %s once approved through the bus, want closed", got)
	}

	// Malformed: not msgpack, and a comment on an issue balcony did not
	// write. Both are rejected, announced, and change nothing.
	notOurs := comment(505, "created", "fozzie", "approved")
	notOurs.IssueBody = "a person's issue"
	if err := pub.PublishComment(ctx, notOurs); err != nil {
		t.Fatal(err)
	}
	if _, err := h.conn.JS.Publish(ctx, "balcony.github.comment", []byte("{not msgpack"), jetstream.WithMsgID("github-comment:506:created")); err != nil {
		t.Fatal(err)
	}
	h.settleComments()
	h.settle()
	rejected := h.events.of("rejected", "")
	if len(rejected) != 2 {
		t.Fatalf("%d rejected events, want 2: %+v", len(rejected), rejected)
	}
	for _, ev := range rejected {
		if ev.Service != "approver" || ev.Data["subject"] != "balcony.github.comment" {
			t.Errorf("rejected event %+v, want the approver rejecting balcony.github.comment", ev)
		}
	}
	if !strings.Contains(fmt.Sprint(rejected[0].Data["reason"]), "not on a balcony issue") {
		t.Errorf("reason %q, want the comment not on a balcony issue", rejected[0].Data["reason"])
	}
	if st := h.status(c.SHA); len(st.Approvals) != 2 {
		t.Errorf("approvals after rejected messages %+v, want still 2", st.Approvals)
	}
}

// TestGitHubCommentsOnlyFromTheReviewIssue: a comment counts only on the
// commit's own review issue, not on any issue whose body someone started
// with the commit's marker.
func TestGitHubCommentsOnlyFromTheReviewIssue(t *testing.T) {
	h, gh := startGitHub(t, time.Hour, nil)
	c := commit("copied marker")
	h.putNoop(c, []delta.Group{siteGroup})
	h.publishReady(c.SHA)
	h.settle()
	issue := theIssue(t, gh, c.SHA)
	err := committer.BusPublisher{Conn: h.conn}.PublishComment(context.Background(), protocol.GitHubComment{
		Schema: protocol.SchemaVersion, Repo: githubtest.Owner + "/" + githubtest.Repo,
		Issue: issue.Number + 1, IssueBody: issue.Body[:strings.Index(issue.Body, "\n")+1] + "say approved if you like cookies",
		CommentID: 601, Action: "created", Login: "fozzie", Body: "approved", Time: time.Now().UTC(),
	})
	if err != nil {
		t.Fatal(err)
	}
	h.settleComments()
	if st := h.status(c.SHA); st.Approved {
		t.Errorf("a comment on issue #%d approved the commit whose review is #%d", issue.Number+1, issue.Number)
	}
}

// TestGitHubLateCommentDoesNotApproveNewContent: an approval written
// before a re-noop changed a group, but read after it (a webhook
// delivered late, the poll's interval), must not approve what its author
// never saw.
func TestGitHubLateCommentDoesNotApproveNewContent(t *testing.T) {
	h, gh := startGitHub(t, time.Hour, nil)
	c := commit("late comment")
	h.putNoop(c, []delta.Group{siteGroup})
	h.publishReady(c.SHA)
	h.settle()
	issue := theIssue(t, gh, c.SHA)
	// fozzie approves what the issue shows now; the webhook is late.
	id := gh.AddComment(issue.Number, "fozzie", "approved")

	otherContent := siteGroup
	otherContent.Resource.Events = []report.Event{{Property: "content", Previous: "{md5}0", Desired: "{md5}2", Status: "noop"}}
	h.putNoop(c, []delta.Group{otherContent})
	h.publishReady(c.SHA)
	h.settle()
	err := committer.BusPublisher{Conn: h.conn}.PublishComment(context.Background(), protocol.GitHubComment{
		Schema: protocol.SchemaVersion, Repo: githubtest.Owner + "/" + githubtest.Repo,
		Issue: issue.Number, IssueBody: issue.Body, CommentID: id, Action: "created",
		Login: "fozzie", Body: "approved", Time: githubtest.Epoch,
	})
	if err != nil {
		t.Fatal(err)
	}
	h.settleComments()
	if st := h.status(c.SHA); st.Approved {
		t.Error("an approval written before the content changed approved the new content")
	}
}

// TestDeletedCommentWithdrawsItsApproval: an approval given by a GitHub
// comment is withdrawn when the comment is deleted: the poll finds it gone
// from an open issue, and a deletion delivered by webhook withdraws it on
// a closed one (the poll reads open issues only).
func TestDeletedCommentWithdrawsItsApproval(t *testing.T) {
	h, gh := startGitHub(t, 50*time.Millisecond, nil)
	c := commit("withdrawn by deletion")
	h.putNoop(c, []delta.Group{siteGroup, motdGroup}) // fozzie owns site.pp only
	h.publishReady(c.SHA)
	h.settle()
	issue := theIssue(t, gh, c.SHA)
	approvedBy := func(who string) bool {
		return slices.ContainsFunc(h.status(c.SHA).Approvals, func(a owners.Approval) bool { return a.By == who })
	}

	id := gh.AddComment(issue.Number, "fozzie", "approved")
	eventually(t, wait, "fozzie's comment recorded", func() bool { return approvedBy("fozzie") })
	gh.DeleteComment(id)
	eventually(t, wait, "the poll withdraws the deleted comment's approval", func() bool { return !approvedBy("fozzie") })

	// On a closed issue the deletion arrives by webhook, on the bus.
	id = gh.AddComment(issue.Number, "fozzie", "Approved")
	gh.AddComment(issue.Number, "scooter", "approved") // scooter owns the motd module
	eventually(t, wait, "the commit approved", func() bool { return h.status(c.SHA).Approved })
	err := committer.BusPublisher{Conn: h.conn}.PublishComment(context.Background(), protocol.GitHubComment{
		Schema: protocol.SchemaVersion, Repo: githubtest.Owner + "/" + githubtest.Repo,
		Issue: issue.Number, IssueBody: issue.Body, CommentID: id, Action: "deleted", Login: "fozzie", Body: "Approved",
	})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, wait, "the deletion by webhook withdraws the approval", func() bool {
		return !approvedBy("fozzie") && !h.status(c.SHA).Approved
	})
}
