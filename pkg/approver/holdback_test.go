package approver_test

import (
	"strings"
	"testing"

	"github.com/balcony-dev/balcony/pkg/delta"
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
			if st.Approved || !strings.Contains(strings.Join(st.Status.Problems, "\n"), tt.want) {
				t.Errorf("approved %v, problems %q; want not approved because %q", st.Approved, st.Status.Problems, tt.want)
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
	if st.Approved || !strings.Contains(strings.Join(st.Status.Problems, "\n"), "stranger@elsewhere.example") {
		t.Errorf("approved %v, problems %q; want held back for the unidentified author", st.Approved, st.Status.Problems)
	}
}
