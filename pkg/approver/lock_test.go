package approver_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/balcony-dev/balcony/pkg/approver"
	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/delta"
	"github.com/balcony-dev/balcony/pkg/github"
	"github.com/balcony-dev/balcony/pkg/nooper"
	"github.com/balcony-dev/balcony/pkg/owners"
)

// gate blocks the calls about one commit until it is opened, and says
// when the first of them is blocked.
type gate struct {
	sha     string
	entered chan struct{}
	open    chan struct{}
	once    sync.Once
}

func newGate(sha string) *gate {
	return &gate{sha: sha, entered: make(chan struct{}), open: make(chan struct{})}
}

// pass blocks a call about sha until the gate opens (or ctx ends).
func (g *gate) pass(ctx context.Context, sha string) {
	if sha != g.sha {
		return
	}
	g.once.Do(func() { close(g.entered) })
	select {
	case <-g.open:
	case <-ctx.Done():
	}
}

// gatedNoops is the nooper's collection service, slow to answer for one
// commit.
type gatedNoops struct {
	approver.Noops
	g *gate
}

func (n gatedNoops) Collection(ctx context.Context, rev string) (*nooper.Collection, error) {
	n.g.pass(ctx, rev)
	return n.Noops.Collection(ctx, rev)
}

// gatedGitHub is a GitHub slow to update one commit's review issue; it
// knows no comments and no teams.
type gatedGitHub struct {
	g  *gate
	mu sync.Mutex
	n  int
}

func (gh *gatedGitHub) SyncReview(ctx context.Context, sha, _, _, _ string, _ bool, prev github.IssueState) (github.IssueState, error) {
	gh.g.pass(ctx, sha)
	if prev.Number != 0 {
		return prev, nil
	}
	gh.mu.Lock()
	defer gh.mu.Unlock()
	gh.n++
	return github.IssueState{Number: gh.n}, nil
}

func (*gatedGitHub) Comments(context.Context, int) ([]github.Comment, error) { return nil, nil }

func (*gatedGitHub) TeamMembers(context.Context, string, string) ([]string, error) {
	return nil, nil
}

// TestNoLockAcrossNetworkCalls: while the evaluations of one commit wait
// on the network (the nooper's collection service, or GitHub), for its
// noop.ready and for an approval of it, the approver answers statuses,
// and records and answers approvals of other commits.
func TestNoLockAcrossNetworkCalls(t *testing.T) {
	for _, blocked := range []string{"collection", "github"} {
		t.Run(blocked, func(t *testing.T) {
			h := start(t)
			slow, other := commit("slow "+blocked), commit("other "+blocked)
			h.putNoop(other, []delta.Group{siteGroup})
			h.putNoop(slow, []delta.Group{siteGroup, motdGroup})
			g := newGate(slow.SHA)
			h.stopApprover()
			switch blocked {
			case "collection":
				h.opts.Noops = gatedNoops{Noops: h.opts.Noops, g: g}
				h.startApprover()
			case "github":
				h.opts.GitHub = &gatedGitHub{g: g}
				h.startGitHubApprover()
			}
			var opened sync.Once
			openGate := func() { opened.Do(func() { close(g.open) }) }
			t.Cleanup(openGate) // before the approver stops
			h.publishReady(slow.SHA)
			<-g.entered // the approver waits on the network for slow
			// An approval of slow, sent as the Client would once it saw
			// the groups, waits too.
			slowApproval := make(chan error, 1)
			go func() {
				req := approver.ApproveRequest{Revision: slow.SHA, Source: owners.SourceCLI, Groups: map[string]string{siteGroup.ID: owners.GroupDigest(siteGroup)}}
				var r approver.ChangeReply
				err := bus.CallJSON(context.Background(), h.client.NC, "approver", approver.ApprovePrefix+"fozzie", req, &r)
				if err == nil && !slices.Equal(r.Counted, []string{siteGroup.ID}) {
					err = fmt.Errorf("reply %+v, want %s counted", r, siteGroup.ID)
				}
				slowApproval <- err
			}()

			// Answered although slow's evaluations wait until the gate
			// opens.
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			if _, err := h.client.Status(ctx, other.SHA); err != nil {
				t.Fatalf("status of another commit: %v", err)
			}
			r, err := h.client.Approve(ctx, other.SHA, "fozzie", owners.SourceCLI, nil)
			if err != nil || !r.Approved {
				t.Fatalf("approval of another commit: %+v, %v", r, err)
			}
			if blocked == "github" {
				// The record is saved and announced before GitHub is
				// called: slow's own status shows its evaluation.
				st, err := h.client.Status(ctx, slow.SHA)
				if err != nil || !st.Ready || len(st.Status.Groups) != 2 {
					t.Fatalf("status of the commit whose issue is being updated: %+v, %v", st, err)
				}
				eventually(t, wait, "slow's approval.needed announced before its GitHub issue is updated", func() bool {
					return len(h.events.of("approval.needed", slow.SHA)) == 2
				})
			}
			openGate()
			if err := <-slowApproval; err != nil {
				t.Errorf("approval of the slow commit, once the network answered: %v", err)
			}
		})
	}
}

// TestConcurrentApprovalsOfOneCommit: two approvals of one commit whose
// evaluations overlap (the second saved between the first's read and
// save) both end up in the record, and both count.
func TestConcurrentApprovalsOfOneCommit(t *testing.T) {
	h := start(t)
	c := commit("two at once")
	h.putNoop(c, []delta.Group{siteGroup, motdGroup})
	h.publishReady(c.SHA)
	h.settle()

	first := newGate(c.SHA)
	var calls sync.Mutex
	n := 0
	approver.SetBeforeSave(t, func(sha string) {
		calls.Lock()
		n++
		mine := n
		calls.Unlock()
		if mine == 1 {
			first.pass(context.Background(), sha)
		}
	})
	done := make(chan *approver.ChangeReply, 1)
	go func() {
		r, err := h.client.Approve(context.Background(), c.SHA, "fozzie", owners.SourceCLI, []string{siteGroup.ID})
		if err != nil {
			t.Errorf("fozzie's approval: %v", err)
		}
		done <- r
	}()
	<-first.entered // fozzie's evaluation read the record and waits to save
	if r := h.approve(c.SHA, "scooter"); r.Approved {
		t.Fatalf("scooter alone approved the commit: %+v", r)
	}
	close(first.open)
	r := <-done
	if r == nil || !r.Approved {
		t.Errorf("fozzie's approval, after scooter's: %+v; want the commit approved by both", r)
	}
	rec := h.record(c.SHA)
	var by []string
	for _, ap := range rec.Approvals {
		by = append(by, ap.By)
	}
	slices.Sort(by)
	if !slices.Equal(by, []string{"fozzie", "scooter"}) || !rec.Status.Approved {
		t.Errorf("stored approvals by %v, approved %v; want fozzie's and scooter's, approved", by, rec.Status.Approved)
	}
	h.settle()
	if got := h.events.counts(c.SHA); got["approval.complete"] != 1 || got["approval.granted"] != 2 {
		t.Errorf("events %v, want each group granted once and the commit complete once", got)
	}
}

// TestPendingAnnouncementsAtStart: an approver that stopped after saving a
// record and before its announcements were acknowledged left them pending
// in the record; the next approver publishes them at start, under the
// recorded message ids, once, without any event about the commit.
func TestPendingAnnouncementsAtStart(t *testing.T) {
	h := start(t)
	c := commit("stopped before announcing")
	h.putNoop(c, []delta.Group{siteGroup})
	h.publishReady(c.SHA)
	h.settle()
	if n := len(h.events.of("approval.needed", c.SHA)); n != 1 {
		t.Fatalf("%d approval.needed events, want 1", n)
	}
	h.stopApprover()

	// The record as saved just before publishing: approval.needed
	// recorded as announced, its publish not acknowledged.
	ctx := context.Background()
	kv, err := h.conn.JS.KeyValue(ctx, "approvals")
	if err != nil {
		t.Fatal(err)
	}
	e, err := kv.Get(ctx, c.SHA)
	if err != nil {
		t.Fatal(err)
	}
	rec := h.record(c.SHA)
	key := "approval.needed:" + c.SHA + ":" + siteGroup.ID + ":" + owners.GroupDigest(siteGroup)
	if !rec.Announced[key] || len(rec.Pending) != 0 {
		t.Fatalf("record announced %v, pending %v; want %s announced, nothing pending", rec.Announced, rec.Pending, key)
	}
	rec.Pending = map[string]string{key: key + ":before-the-stop"}
	data, err := bus.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Update(ctx, c.SHA, data, e.Revision()); err != nil {
		t.Fatal(err)
	}

	for range 2 { // the second start finds nothing pending
		h.startApprover()
		eventually(t, wait, "the pending announcement published and no longer pending", func() bool {
			return len(h.record(c.SHA).Pending) == 0
		})
		h.settle()
		h.stopApprover()
		if n := len(h.events.of("approval.needed", c.SHA)); n != 2 {
			t.Errorf("%d approval.needed events, want 2: the one before and the pending one", n)
		}
	}
}
