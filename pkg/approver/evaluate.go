package approver

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/delta"
	"github.com/balcony-dev/balcony/pkg/nooper"
	"github.com/balcony-dev/balcony/pkg/owners"
	"github.com/balcony-dev/balcony/pkg/protocol"
	"github.com/balcony-dev/balcony/pkg/review"
)

// ErrNotReady is returned for an approval of a commit whose noop has not
// finished: there is nothing yet that it could be bound to.
var ErrNotReady = errors.New("the commit's noop has not finished")

// state is a commit's record with what its evaluation needed.
type state struct {
	rec    *Record
	groups []delta.Group // the finished delta's groups; nil when not ready
	// withdrawn are the finished delta's withdrawn changes, which need
	// no sign-off but are shown.
	withdrawn []delta.Group
	ready     bool
	// warnings are about where owners were read from (no node statement
	// found, environment.conf problems) and code the commit adds that
	// runs on every host during the noop; the status shows them first.
	warnings []string
}

// inputs are what an evaluation reads besides the commit's record: the
// collection, the commit from git, and the ownership model at its first
// parent with its warnings (only when the noop has finished). They are
// read with no lock held.
type inputs struct {
	col *nooper.Collection
	// digest is the finished delta's digest; empty when not ready.
	digest   string
	model    *owners.Model
	warnings []string
}

// read reads the inputs of an evaluation of rev.
func (a *Approver) read(ctx context.Context, rev string) (*inputs, error) {
	col, err := a.opts.Noops.Collection(ctx, rev)
	if err != nil {
		return nil, err
	}
	sha := col.Commit.SHA
	// What the nooper stored of the commit is not believed: its parents,
	// author and message are read from git.
	if col.Commit, err = a.commit(ctx, sha); err != nil {
		return nil, err
	}
	in := &inputs{col: col}
	if col.Result == nil {
		return in, nil
	}
	in.digest = col.Result.Digest()
	own, err := a.ownershipAt(ctx, col.Parent())
	if err != nil {
		return nil, err
	}
	ct, err := a.compileTimeWarnings(ctx, col.Parent(), sha)
	if err != nil {
		// Owners do not depend on it: say so rather than fail.
		ct = []string{fmt.Sprintf("the commit's changes cannot be read (%v): code it adds that runs on every host during the noop is not looked for", err)}
	}
	in.model, in.warnings = own.model, append(append([]string(nil), own.warnings...), ct...)
	return in, nil
}

// beforeSave, when set (by tests), is called by update between reading
// the record and saving it.
var beforeSave atomic.Pointer[func(sha string)]

// update loads the noop of rev, applies mutate (nil for none) to its
// record, re-evaluates it, saves it and announces what changed. rev is a
// sha or an unambiguous prefix.
//
// No lock is held while the collection, git, GitHub or the store are
// read: the record is saved with compare-and-set, and on a conflict (the
// commit evaluated meanwhile, by this approver or another) read and
// evaluated again, mutate applied to it again. A record saved from a
// delta other than the one read sends the evaluation back to the
// collection, so an evaluation that read an older noop never overwrites
// a newer one. What is announced is recorded before it is published
// (Record.Pending), and GitHub is synced after.
func (a *Approver) update(ctx context.Context, rev string, mutate func(*state) error) (*state, error) {
	in, err := a.read(ctx, rev)
	if err != nil {
		return nil, err
	}
	sha := in.col.Commit.SHA
	var (
		st       *state
		publish  []bus.Announcement
		revision uint64
		checked  string // the other delta a record was saved from, for which the collection was read again
	)
	for attempt := 1; ; attempt++ {
		rec, stored, err := a.store.get(ctx, sha)
		if err != nil {
			return nil, err
		}
		if rec != nil && rec.NoopDigest != "" && rec.NoopDigest != in.digest && rec.NoopDigest != checked {
			// Saved from another delta: the collection may have changed
			// since it was read. Read now, it is at least as new as what
			// that evaluation read.
			checked = rec.NoopDigest
			if in, err = a.read(ctx, sha); err != nil {
				return nil, err
			}
		}
		if st, err = a.evaluate(in, rec, mutate); err != nil {
			return nil, err
		}
		publish = nil
		if st.ready {
			publish = a.announcements(st)
		}
		if f := beforeSave.Load(); f != nil {
			(*f)(sha)
		}
		revision, err = a.store.save(ctx, st.rec, stored)
		if err == nil {
			break
		}
		if !errors.Is(err, errConflict) || attempt >= maxAttempts {
			return nil, err
		}
	}
	a.metrics.pending.note(st)
	if len(publish) > 0 {
		a.publish(ctx, st.rec, revision, publish)
	}
	if st.ready {
		a.syncGitHub(ctx, st, in)
	}
	return st, nil
}

// view evaluates rev as update would, without saving or announcing
// anything: what a status request needs. It takes no lock.
func (a *Approver) view(ctx context.Context, rev string) (*state, error) {
	in, err := a.read(ctx, rev)
	if err != nil {
		return nil, err
	}
	rec, _, err := a.store.get(ctx, in.col.Commit.SHA)
	if err != nil {
		return nil, err
	}
	return a.evaluate(in, rec, nil)
}

// evaluate applies mutate to rec (nil: a new record) and evaluates its
// approvals against the finished groups of in. It does no I/O.
func (a *Approver) evaluate(in *inputs, rec *Record, mutate func(*state) error) (*state, error) {
	col := in.col
	if rec == nil {
		rec = &Record{}
	}
	rec.Repo, rec.Branch, rec.Commit = col.Repo, col.Branch, col.Commit
	st := &state{rec: rec}
	// A re-noop keeps the previous result until it finishes: approvals
	// given meanwhile are bound to it, and count if nothing changes.
	if col.Result != nil {
		st.groups, st.withdrawn, st.ready = col.Result.Groups, col.Result.Withdrawn, true
		rec.NoopDigest = in.digest
	}
	if mutate != nil {
		if err := mutate(st); err != nil {
			return nil, err
		}
	}
	if st.ready {
		st.warnings = in.warnings
		rec.Status = owners.Evaluate(in.model, col.Commit, st.groups, rec.Approvals)
		a.holdBack(rec, col)
	}
	return st, nil
}

// holdBack keeps a commit unapproved when approving it would rest on
// something unknown: hosts whose noop is missing or failed (what the
// commit does there was never seen), or an author or co-author the
// approver cannot identify (whose own approval could then count).
func (a *Approver) holdBack(rec *Record, col *nooper.Collection) {
	var why []string
	if res := col.Result; res != nil && res.Parent != col.Parent() {
		why = append(why, fmt.Sprintf("the noop compared the commit with %s, but its first parent in git is %s: re-noop before approving", protocol.Short(res.Parent), protocol.Short(col.Parent())))
	}
	if res := col.Result; res != nil {
		if n := len(res.Unanswered); n == 1 {
			why = append(why, fmt.Sprintf("1 host did not answer the noop (%s): re-noop before approving", res.Unanswered[0]))
		} else if n > 1 {
			why = append(why, fmt.Sprintf("%d hosts did not answer the noop (%s): re-noop before approving", n, review.CompressHosts(res.Unanswered)))
		}
		for _, e := range res.Errors {
			why = append(why, fmt.Sprintf("the noop failed on %s (%s): fix or re-noop before approving", review.CompressHosts(e.Hosts), e.Message))
		}
	}
	if len(rec.Status.Unidentified) > 0 && !a.opts.Config.AllowUnidentifiedAuthors {
		why = append(why, fmt.Sprintf("no login is known for %s, so their own approval cannot be told apart: add them to the approver's logins", strings.Join(rec.Status.Unidentified, ", ")))
	}
	if len(why) > 0 {
		rec.Status.Approved = false
		rec.Status.HeldBack = why
	}
}
