package approver

import (
	"context"
	"errors"
	"fmt"

	"github.com/balcony-dev/balcony/pkg/gitrepo"
	"github.com/balcony-dev/balcony/pkg/protocol"
)

// maxCommits bounds the commits remembered; past it they are forgotten
// at once and read again when needed.
const maxCommits = 4096

// commit reads sha from the approver's own copy of the repository,
// fetching it once when the copy lacks it: the commit's parents (where
// owners are read), author and co-authors (whose approvals never count)
// are believed from git only, never from a commit event or from the
// nooper's records of one. A commit never changes: it is read once.
func (a *Approver) commit(ctx context.Context, sha string) (protocol.Commit, error) {
	a.cacheMu.Lock()
	c, ok := a.commits[sha]
	a.cacheMu.Unlock()
	if ok {
		return c, nil
	}
	c, err := a.opts.Code.Commit(sha)
	if errors.Is(err, gitrepo.ErrUnknownRevision) {
		if ferr := a.opts.Code.Fetch(ctx); ferr != nil {
			return protocol.Commit{}, fmt.Errorf("fetch for %s: %w", sha, ferr)
		}
		c, err = a.opts.Code.Commit(sha)
	}
	if err != nil {
		return protocol.Commit{}, err
	}
	if c.SHA != sha {
		return protocol.Commit{}, fmt.Errorf("the repository gave commit %s for %s", c.SHA, sha)
	}
	a.cacheMu.Lock()
	if a.commits == nil || len(a.commits) >= maxCommits {
		a.commits = map[string]protocol.Commit{}
	}
	a.commits[sha] = c
	a.cacheMu.Unlock()
	return c, nil
}
