package approver_test

import (
	"context"
	"strings"
	"testing"

	"github.com/balcony-dev/balcony/pkg/delta"
	"github.com/balcony-dev/balcony/pkg/owners"
	"github.com/balcony-dev/balcony/pkg/review"
)

// TestIncompleteNoopIsNotApproved: what a commit does on a host that did
// not answer, or where the noop failed, was never seen, so the commit is
// not approved, even with no groups or with every group approved.
func TestIncompleteNoopIsNotApproved(t *testing.T) {
	h := start(t)
	for _, tt := range []struct {
		name   string
		groups []delta.Group
		change func(*delta.Result)
		want   string
	}{
		{"unanswered host, no groups", []delta.Group{}, func(r *delta.Result) { r.Unanswered = []string{"waldorf.example.com"} }, "did not answer"},
		{"compile error", []delta.Group{siteGroup}, func(r *delta.Result) {
			r.Errors = []delta.ErrorGroup{{Message: "Syntax error", Hosts: []string{"statler.example.com"}}}
		}, "the noop failed on statler.example.com"},
		{"compile error, no groups", []delta.Group{}, func(r *delta.Result) {
			r.Errors = []delta.ErrorGroup{{Message: "Syntax error", Hosts: []string{"statler.example.com"}}}
		}, "the noop failed on statler.example.com"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := commit(tt.name)
			h.putNoopResult(c, tt.groups, tt.change)
			h.publishReady(c.SHA)
			h.settle()
			if len(tt.groups) > 0 {
				h.approve(c.SHA, "kermit") // owns site.pp
			}
			st := h.status(c.SHA)
			if st.Approved || !strings.Contains(strings.Join(st.Status.HeldBack, "\n"), tt.want) {
				t.Errorf("approved %v, held back %q; want not approved because %q", st.Approved, st.Status.HeldBack, tt.want)
			}
			// The status says so, and never that it has no changes.
			md := review.ApprovalMarkdown(st.View())
			if !strings.Contains(md, "NOT APPROVED") || !strings.Contains(md, tt.want) ||
				strings.Contains(md, "No changes") || strings.Contains(md, "approved by itself") {
				t.Errorf("status of a held-back commit:\n%s", md)
			}
			if len(tt.groups) == 0 {
				r, err := h.client.Approve(context.Background(), c.SHA, "kermit", owners.SourceCLI, nil)
				if err != nil || r.Approved || strings.Contains(r.Message, "approved by itself") || !strings.Contains(r.Message, tt.want) {
					t.Errorf("approving a held-back commit with no groups: %+v, %v", r, err)
				}
			}
			if got := h.events.counts(c.SHA)["approval.complete"]; got != 0 {
				t.Errorf("%d approval.complete events", got)
			}
		})
	}
}

// TestUnidentifiedAuthorHoldsBack: an author whose email maps to no login
// could approve their own commit unnoticed, so the commit waits.
func TestUnidentifiedAuthorHoldsBack(t *testing.T) {
	h := start(t)
	c := commit("by a stranger")
	c.AuthorEmail = "stranger@elsewhere.example"
	h.putNoop(c, []delta.Group{siteGroup})
	h.publishReady(c.SHA)
	h.settle()
	h.approve(c.SHA, "kermit")
	st := h.status(c.SHA)
	if st.Approved || !strings.Contains(strings.Join(st.Status.HeldBack, "\n"), "stranger@elsewhere.example") {
		t.Errorf("approved %v, held back %q; want held back for the unidentified author", st.Approved, st.Status.HeldBack)
	}
}

// TestWithdrawnOnly: a commit whose only effect is to withdraw changes
// pending in its parent leaves its hosts as they are: it is approved by
// itself, and its status lists what it withdraws and says why no sign-off
// is needed.
func TestWithdrawnOnly(t *testing.T) {
	h := start(t)
	c := commit("withdraws the banner")
	h.putNoopResult(c, []delta.Group{}, func(r *delta.Result) { r.Withdrawn = []delta.Group{motdGroup} })
	h.publishReady(c.SHA)
	h.settle()
	st := h.status(c.SHA)
	if !st.Approved || len(st.Withdrawn) != 1 || st.Withdrawn[0].ID != motdGroup.ID || st.Withdrawn[0].Resource != motdGroup.Resource.ID {
		t.Errorf("approved %v, withdrawn %+v; want approved by itself, withdrawing %s", st.Approved, st.Withdrawn, motdGroup.ID)
	}
	md := review.ApprovalMarkdown(st.View())
	for _, want := range []string{"APPROVED", "only withdrawn ones", "Withdrawn changes", review.WithdrawnNeedsNoSignOff, "File[/etc/motd.d/banner] on waldorf.example.com"} {
		if !strings.Contains(md, want) {
			t.Errorf("status lacks %q:\n%s", want, md)
		}
	}
	if got := h.events.counts(c.SHA)["approval.complete"]; got != 1 {
		t.Errorf("%d approval.complete events, want 1", got)
	}
}
