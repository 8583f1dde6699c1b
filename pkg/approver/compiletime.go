package approver

import (
	"context"
	"errors"
	"fmt"

	"github.com/balcony-dev/balcony/pkg/gitrepo"
	"github.com/balcony-dev/balcony/pkg/review"
)

// ChangeReader is a CodeReader that can also list the files a commit adds
// or changes (gitrepo.Repo can). With it, the status warns of code the
// commit adds that runs on every host during its noop (see
// review.CompileTimeCode and docs/security.md).
type ChangeReader interface {
	Changes(from, to string, keep func(path string) bool) ([]gitrepo.Change, error)
}

// maxCompileTime bounds the commits whose compile-time warnings are
// remembered; past it they are forgotten at once and computed again.
const maxCompileTime = 1024

// compileTimeWarnings says what code the commit sha adds, over its first
// parent, that runs on every host during the noop; nothing when the code
// reader cannot list changes. The changes between two revisions never
// change: they are read once, outside any lock.
func (a *Approver) compileTimeWarnings(ctx context.Context, parent, sha string) ([]string, error) {
	cr, ok := a.opts.Code.(ChangeReader)
	if !ok {
		return nil, nil
	}
	key := parent + ".." + sha
	a.cacheMu.Lock()
	w, ok := a.compileTime[key]
	a.cacheMu.Unlock()
	if ok {
		return w, nil
	}
	changes, err := cr.Changes(parent, sha, review.CompileTimePath)
	if errors.Is(err, gitrepo.ErrUnknownRevision) {
		if ferr := a.opts.Code.Fetch(ctx); ferr != nil {
			return nil, fmt.Errorf("fetch for %s: %w", sha, ferr)
		}
		changes, err = cr.Changes(parent, sha, review.CompileTimePath)
	}
	if err != nil {
		return nil, err
	}
	in := make([]review.FileChange, len(changes))
	for i, c := range changes {
		in[i] = review.FileChange{Path: c.Path, Before: c.Before, After: c.After}
	}
	for _, s := range review.CompileTimeCode(in) {
		w = append(w, "code that runs on every host during the noop: "+s)
	}
	a.cacheMu.Lock()
	if a.compileTime == nil || len(a.compileTime) >= maxCompileTime {
		a.compileTime = map[string][]string{}
	}
	a.compileTime[key] = w
	a.cacheMu.Unlock()
	return w, nil
}
