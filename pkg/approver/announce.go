package approver

import (
	"context"
	"fmt"
	"strings"

	"github.com/nats-io/nuid"

	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/delta"
	"github.com/balcony-dev/balcony/pkg/protocol"
	"github.com/balcony-dev/balcony/pkg/review"
)

// announcements decides what an evaluation announces, once each: a group
// that needs owners, a group approved, approvals that lapsed, the
// commit's completion. The record remembers what was said (Announced);
// when a group or the commit goes back (a revocation, a lapse), the
// opposite announcement is forgotten, so it is made again when the state
// returns.
//
// A new announcement is marked in Announced and Pending (with a message
// id unique to it: the record, not the server's duplicate window, decides
// what is said again) before the record is saved; it is published after.
// One still pending from an earlier evaluation (a publish that failed, or
// an approver stopped between save and publish) is published again under
// its id; one the state no longer calls for is dropped.
func (a *Approver) announcements(st *state) []bus.Announcement {
	rec := st.rec
	sha := rec.Commit.SHA
	var out []bus.Announcement
	wanted := map[string]bool{}
	// announce builds the event (describing a group costs: its hosts are
	// compressed) only when it is published.
	announce := func(key string, event func() protocol.Event) {
		wanted[key] = true
		id, pending := rec.Pending[key]
		if rec.Announced[key] && !pending {
			return
		}
		if !pending {
			id = key + ":" + nuid.Next()
			if rec.Announced == nil {
				rec.Announced = map[string]bool{}
			}
			if rec.Pending == nil {
				rec.Pending = map[string]string{}
			}
			rec.Announced[key], rec.Pending[key] = true, id
		}
		ev := event()
		ev.Service = "approver"
		out = append(out, bus.Announcement{MsgID: id, Event: ev})
	}
	resources := make(map[string]delta.Group, len(st.groups))
	for _, g := range st.groups {
		resources[g.ID] = g
	}
	for _, g := range rec.Status.Groups {
		key := sha + ":" + g.ID + ":" + g.Digest
		what := func() string { return describe(resources[g.ID]) }
		if len(g.Lapsed) > 0 {
			announce("approval.lapsed:"+key, func() protocol.Event {
				return protocol.Event{
					Type: "approval.lapsed", Repo: rec.Repo, Commit: sha,
					Text: fmt.Sprintf("%s: the approval of %s by %s lapsed: the change is not what was approved", protocol.Short(sha), what(), strings.Join(g.Lapsed, ", ")),
					Data: map[string]any{"group": g.ID, "lapsed": g.Lapsed},
				}
			})
		}
		if g.Approved {
			forget(rec, "approval.needed:"+key)
			announce("approval.granted:"+key, func() protocol.Event {
				return protocol.Event{
					Type: "approval.granted", Repo: rec.Repo, Commit: sha,
					Text: fmt.Sprintf("%s: %s approved by %s", protocol.Short(sha), what(), strings.Join(g.ApprovedBy, ", ")),
					Data: map[string]any{"group": g.ID, "by": g.ApprovedBy, "via": g.Via},
				}
			})
			continue
		}
		forget(rec, "approval.granted:"+key)
		announce("approval.needed:"+key, func() protocol.Event {
			return protocol.Event{
				Type: "approval.needed", Repo: rec.Repo, Commit: sha,
				Text: fmt.Sprintf("%s %q: %s needs approval: %s", protocol.Short(sha), rec.Commit.Subject, what(), g.Missing),
				Data: map[string]any{"group": g.ID, "owners": g.Owners, "missing": g.Missing},
			}
		})
	}
	if rec.Status.Approved {
		announce("approval.complete:"+sha, func() protocol.Event {
			return protocol.Event{
				Type: "approval.complete", Repo: rec.Repo, Commit: sha,
				Text: fmt.Sprintf("%s %q is approved (%d change groups)", protocol.Short(sha), rec.Commit.Subject, len(rec.Status.Groups)),
				Data: map[string]any{"groups": len(rec.Status.Groups)},
			}
		})
	} else {
		forget(rec, "approval.complete:"+sha)
	}
	// Pending announcements of a delta no longer evaluated (a re-noop
	// changed the groups) are not made.
	for key := range rec.Pending {
		if !wanted[key] {
			delete(rec.Pending, key)
		}
	}
	return out
}

// forget forgets that key was announced, and any publish of it pending.
func forget(rec *Record, key string) {
	delete(rec.Announced, key)
	delete(rec.Pending, key)
}

// publish publishes the announcements of an evaluation, whose record rec
// is saved at revision rev, and then removes those the server
// acknowledged from the record's Pending. A failure is logged; the next
// evaluation of the commit publishes what is still pending.
func (a *Approver) publish(ctx context.Context, rec *Record, rev uint64, anns []bus.Announcement) {
	sha := rec.Commit.SHA
	errs := a.conn.AnnounceAll(ctx, anns, 0)
	done := map[string]bool{}
	for i, err := range errs {
		if err != nil {
			a.log.Warn().Err(err).Str("commit", sha).Str("event", anns[i].Event.Type).Msg("announce; retried at the commit's next evaluation")
			continue
		}
		done[anns[i].MsgID] = true
		a.metrics.events.WithLabelValues(anns[i].Event.Type).Inc()
	}
	if len(done) == 0 {
		return
	}
	err := a.store.modify(ctx, sha, rec, rev, func(rec *Record) {
		for key, id := range rec.Pending {
			if done[id] {
				delete(rec.Pending, key)
			}
		}
	})
	if err != nil {
		// Published, but still pending in the record: published again
		// under the same ids at the next evaluation.
		a.log.Warn().Err(err).Str("commit", sha).Msg("record what was announced")
	}
}

// describe names a group for one line of chat.
func describe(g delta.Group) string {
	if g.Resource.ID == "" {
		return "group " + g.ID
	}
	return fmt.Sprintf("%s on %s", g.Resource.ID, review.CompressHosts(g.Hosts))
}
