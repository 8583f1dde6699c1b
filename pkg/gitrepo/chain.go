package gitrepo

import (
	"fmt"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"

	"github.com/balcony-dev/balcony/pkg/protocol"
)

// Commit returns the commit rev names as the repository has it: its sha,
// parents (first parent first), author, subject and message. This is what
// the nooper and the approver believe about a commit, never what a commit
// event says. An unknown revision wraps ErrUnknownRevision.
func (r *Repo) Commit(rev string) (protocol.Commit, error) {
	var out protocol.Commit
	err := r.do(func(g *git.Repository) error {
		h, err := resolve(g, rev)
		if err != nil {
			return err
		}
		c, err := g.CommitObject(h)
		if err != nil {
			return unknown(err)
		}
		out = toCommit(c)
		return nil
	})
	if err != nil {
		return protocol.Commit{}, fmt.Errorf("read commit %s: %w", rev, err)
	}
	return out, nil
}

// OnFirstParentChain tells whether sha is on the first-parent chain of
// branch as the repository has it: the branch's tip, its first parent, and
// so on, looking at most limit commits down (DefaultLimit when limit <=
// 0). A commit further down than limit counts as not on the chain. A
// branch the repository does not have wraps ErrUnknownRevision.
func (r *Repo) OnFirstParentChain(branch, sha string, limit int) (bool, error) {
	if limit <= 0 {
		limit = DefaultLimit
	}
	if !plumbing.IsHash(sha) {
		return false, fmt.Errorf("first-parent chain of %s: %q is not a sha: %w", branch, sha, ErrUnknownRevision)
	}
	want := plumbing.NewHash(sha)
	var found bool
	err := r.do(func(g *git.Repository) error {
		found = false
		ref, err := g.Reference(plumbing.NewBranchReferenceName(branch), true)
		if err != nil {
			return unknown(err)
		}
		h := ref.Hash()
		for i := 0; i < limit; i++ {
			if h == want {
				found = true
				return nil
			}
			c, err := g.CommitObject(h)
			if err != nil {
				return unknown(err)
			}
			if len(c.ParentHashes) == 0 {
				return nil
			}
			h = c.ParentHashes[0]
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("first-parent chain of %s: %w", branch, err)
	}
	return found, nil
}
