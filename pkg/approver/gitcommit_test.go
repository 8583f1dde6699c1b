package approver_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/balcony-dev/balcony/pkg/delta"
)

// TestCommitIsReadFromGit stores noops whose commit says other than git
// does, as a nooper trusting a forged commit event would have: the
// approver goes by git. The author and co-author git names never approve
// (though the record names someone else), and a noop compared with a
// parent that is not git's first parent (the commit named as its own
// parent: an empty delta) is held back.
func TestCommitIsReadFromGit(t *testing.T) {
	h := start(t)

	t.Run("author and co-author", func(t *testing.T) {
		git := commit("by fozzie, with kermit")
		git.Author, git.AuthorEmail = "Fozzie", "fozzie@muppets.example"
		git.Message = "motd\n\nCo-authored-by: Kermit <kermit@muppets.example>\n"
		claimed := git
		claimed.Author, claimed.AuthorEmail, claimed.Message = "Beaker", "beaker@muppets.example", "motd\n"
		h.code.addCommit(git)
		h.putNoopAs(claimed, []delta.Group{siteGroup}, nil)
		h.publishReady(git.SHA)
		h.settle()
		for _, who := range []string{"fozzie", "kermit"} {
			if r := h.approve(git.SHA, who); r.Approved || len(r.Counted) != 0 {
				t.Errorf("%s, an author in git, approved: %+v", who, r)
			}
		}
		st := h.status(git.SHA)
		if st.Approved || !slices.Contains(st.Status.Authors, "fozzie") || !slices.Contains(st.Status.Authors, "kermit") {
			t.Errorf("approved %v, authors %v; want fozzie and kermit as authors, not approved", st.Approved, st.Status.Authors)
		}
		if st.Commit.AuthorEmail != git.AuthorEmail || st.Commit.Message != git.Message {
			t.Errorf("status shows commit %+v, want git's", st.Commit)
		}
	})

	t.Run("its own parent", func(t *testing.T) {
		git := commit("names itself as parent")
		claimed := git
		claimed.Parents = []string{git.SHA}
		h.code.addCommit(git)
		h.putNoopAs(claimed, []delta.Group{}, nil) // compared with itself: no changes
		h.publishReady(git.SHA)
		h.settle()
		st := h.status(git.SHA)
		held := strings.Join(st.Status.HeldBack, "\n")
		if st.Approved || !strings.Contains(held, "but its first parent in git is "+revParent[:12]) {
			t.Errorf("approved %v, held back %q; want held back: compared with another parent than git's", st.Approved, held)
		}
		if !slices.Equal(st.Commit.Parents, []string{revParent}) {
			t.Errorf("status shows parents %v, want git's %v", st.Commit.Parents, []string{revParent})
		}
		if n := len(h.events.of("approval.complete", git.SHA)); n != 0 {
			t.Errorf("%d approval.complete events, want none", n)
		}
	})
}
