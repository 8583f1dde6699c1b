package approver

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nuid"

	"github.com/balcony-dev/balcony/pkg/delta"
	"github.com/balcony-dev/balcony/pkg/gitrepo"
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

// update loads the noop of rev, applies mutate (nil for none) to its
// record, re-evaluates it, saves it and announces what changed. rev is a
// sha or an unambiguous prefix.
func (a *Approver) update(ctx context.Context, rev string, mutate func(*state) error) (*state, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	st, col, err := a.evaluate(ctx, rev, mutate)
	if err != nil {
		return nil, err
	}
	if st.ready {
		a.announceChanges(ctx, st)
		a.syncGitHub(ctx, st, col)
	}
	if err := a.store.put(ctx, st.rec); err != nil {
		return nil, err
	}
	return st, nil
}

// view evaluates rev as update would, without saving or announcing
// anything: what a status request needs.
func (a *Approver) view(ctx context.Context, rev string) (*state, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	st, _, err := a.evaluate(ctx, rev, nil)
	return st, err
}

// evaluate loads rev's noop and record, applies mutate, and evaluates the
// record's approvals against the finished groups. It changes nothing
// stored. Called with a.mu held.
func (a *Approver) evaluate(ctx context.Context, rev string, mutate func(*state) error) (*state, *nooper.Collection, error) {
	col, err := a.opts.Noops.Collection(ctx, rev)
	if err != nil {
		return nil, nil, err
	}
	sha := col.Commit.SHA
	// What the nooper stored of the commit is not believed: its parents,
	// author and message are read from git.
	if col.Commit, err = a.commit(ctx, sha); err != nil {
		return nil, nil, err
	}
	rec, err := a.store.get(ctx, sha)
	if err != nil {
		return nil, nil, err
	}
	if rec == nil {
		rec = &Record{}
	}
	rec.Repo, rec.Branch, rec.Commit = col.Repo, col.Branch, col.Commit
	st := &state{rec: rec}
	// A re-noop keeps the previous result until it finishes: approvals
	// given meanwhile are bound to it, and count if nothing changes.
	if col.Result != nil {
		st.groups, st.withdrawn, st.ready = col.Result.Groups, col.Result.Withdrawn, true
		rec.NoopDigest = col.Result.Digest()
	}
	if mutate != nil {
		if err := mutate(st); err != nil {
			return nil, nil, err
		}
	}
	if st.ready {
		model, warnings, err := a.model(ctx, col.Parent())
		if err != nil {
			return nil, nil, err
		}
		ct, err := a.compileTimeWarnings(ctx, col.Parent(), sha)
		if err != nil {
			// Owners do not depend on it: say so rather than fail.
			ct = []string{fmt.Sprintf("the commit's changes cannot be read (%v): code it adds that runs on every host during the noop is not looked for", err)}
		}
		st.warnings = append(append([]string(nil), warnings...), ct...)
		rec.Status = owners.Evaluate(model, col.Commit, st.groups, rec.Approvals)
		a.holdBack(rec, col)
	}
	return st, col, nil
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

// model builds the ownership model from the repository at rev, the
// commit's first parent: a commit cannot grant itself owners, nor move
// the node files (environment.conf is read there too). The warnings say
// what the reviewer should know about where owners were read from.
func (a *Approver) model(ctx context.Context, rev string) (*owners.Model, []string, error) {
	cfg := a.opts.Config
	in := owners.Input{
		Admins: cfg.Admins, Teams: map[string][]string{}, Logins: cfg.Logins,
		StrictHostnames: cfg.StrictHostnames,
	}
	for team, members := range cfg.Teams {
		in.Teams[team] = members
	}
	var l *layout
	if rev != "" { // a root commit has no owners but admins
		var err error
		if l, err = a.layoutAt(ctx, rev); err != nil {
			return nil, nil, err
		}
		in.ManifestDirs, in.ModuleDirs = l.manifestDirs, l.moduleDirs
		// A manifest may be a single file, which Under keeps by name.
		under := gitrepo.Under(l.manifestDirs, append(append([]string(nil), owners.CodeOwnersPaths...), l.manifestDirs...)...)
		// Every path is seen, to know which module directories exist (a
		// resource's module by its containment path); only CODEOWNERS and
		// the manifests are read.
		keep := func(p string) bool {
			in.Tree = append(in.Tree, p)
			return under(p)
		}
		files, err := a.files(ctx, rev, keep)
		if err != nil {
			return nil, nil, err
		}
		in.CodeOwners, in.Manifests = map[string][]byte{}, map[string][]byte{}
		for p, data := range files {
			if strings.HasSuffix(p, ".pp") {
				in.Manifests[p] = data
			} else {
				in.CodeOwners[p] = data
			}
		}
		if err := a.githubTeams(ctx, in.CodeOwners, in.Teams); err != nil {
			return nil, nil, err
		}
	}
	m, err := owners.New(in)
	if err != nil {
		return nil, nil, fmt.Errorf("owners at %s: %w", rev, err)
	}
	if l == nil {
		return m, nil, nil
	}
	warnings := l.warnings
	if m.NodeStatements() == 0 {
		warnings = append(append([]string(nil), warnings...), a.noNodes(rev, l))
	}
	return m, warnings, nil
}

// announceChanges announces what an evaluation changed, once each: a group
// that needs owners, a group approved, approvals that lapsed, the commit's
// completion. The record remembers what was said; when a group or the
// commit goes back (a revocation, a lapse), the opposite announcement is
// forgotten, so it is made again when the state returns.
func (a *Approver) announceChanges(ctx context.Context, st *state) {
	rec := st.rec
	sha := rec.Commit.SHA
	resources := map[string]delta.Group{}
	for _, g := range st.groups {
		resources[g.ID] = g
	}
	for _, g := range rec.Status.Groups {
		what := describe(resources[g.ID])
		key := sha + ":" + g.ID + ":" + g.Digest
		if len(g.Lapsed) > 0 {
			a.announce(ctx, rec, "approval.lapsed:"+key, protocol.Event{
				Type: "approval.lapsed", Repo: rec.Repo, Commit: sha,
				Text: fmt.Sprintf("%s: the approval of %s by %s lapsed: the change is not what was approved", protocol.Short(sha), what, strings.Join(g.Lapsed, ", ")),
				Data: map[string]any{"group": g.ID, "lapsed": g.Lapsed},
			})
		}
		if g.Approved {
			delete(rec.Announced, "approval.needed:"+key)
			a.announce(ctx, rec, "approval.granted:"+key, protocol.Event{
				Type: "approval.granted", Repo: rec.Repo, Commit: sha,
				Text: fmt.Sprintf("%s: %s approved by %s", protocol.Short(sha), what, strings.Join(g.ApprovedBy, ", ")),
				Data: map[string]any{"group": g.ID, "by": g.ApprovedBy, "via": g.Via},
			})
			continue
		}
		delete(rec.Announced, "approval.granted:"+key)
		a.announce(ctx, rec, "approval.needed:"+key, protocol.Event{
			Type: "approval.needed", Repo: rec.Repo, Commit: sha,
			Text: fmt.Sprintf("%s %q: %s needs approval: %s", protocol.Short(sha), rec.Commit.Subject, what, g.Missing),
			Data: map[string]any{"group": g.ID, "owners": g.Owners, "missing": g.Missing},
		})
	}
	if !rec.Status.Approved {
		delete(rec.Announced, "approval.complete:"+sha)
		return
	}
	a.announce(ctx, rec, "approval.complete:"+sha, protocol.Event{
		Type: "approval.complete", Repo: rec.Repo, Commit: sha,
		Text: fmt.Sprintf("%s %q is approved (%d change groups)", protocol.Short(sha), rec.Commit.Subject, len(rec.Status.Groups)),
		Data: map[string]any{"groups": len(rec.Status.Groups)},
	})
}

// announce publishes ev unless the record says key was announced. The
// message id is unique per announcement: the record, not the server's
// duplicate window, decides what is said again.
func (a *Approver) announce(ctx context.Context, rec *Record, key string, ev protocol.Event) {
	if rec.Announced[key] {
		return
	}
	ev.Service = "approver"
	if err := a.conn.Announce(ctx, key+":"+nuid.Next(), ev); err != nil {
		a.log.Warn().Err(err).Str("event", ev.Type).Msg("announce")
		return
	}
	if rec.Announced == nil {
		rec.Announced = map[string]bool{}
	}
	rec.Announced[key] = true
}

// describe names a group for one line of chat.
func describe(g delta.Group) string {
	if g.Resource.ID == "" {
		return "group " + g.ID
	}
	return fmt.Sprintf("%s on %s", g.Resource.ID, review.CompressHosts(g.Hosts))
}
