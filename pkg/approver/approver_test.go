package approver_test

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/balcony-dev/balcony/pkg/approver"
	"github.com/balcony-dev/balcony/pkg/delta"
	"github.com/balcony-dev/balcony/pkg/protocol"
)

func TestNoopReadyAnnouncesWhatEachGroupNeeds(t *testing.T) {
	h := start(t)
	c := commit("two groups")
	h.putNoop(c, []delta.Group{siteGroup, motdGroup})
	h.publishReady(c.SHA)
	h.settle()

	if got, want := h.events.counts(c.SHA), map[string]int{"approval.needed": 2}; !maps.Equal(got, want) {
		t.Fatalf("events = %v, want %v", got, want)
	}
	needed := map[string]neededData{}
	for _, ev := range h.events.of("approval.needed", c.SHA) {
		var d neededData
		decodeData(t, ev, &d)
		needed[d.Group] = d
		if ev.Service != "approver" || ev.Repo != "puppet" {
			t.Errorf("needed event service %q repo %q, want approver, puppet", ev.Service, ev.Repo)
		}
		if !strings.Contains(ev.Text, c.SHA[:12]) {
			t.Errorf("needed event text %q does not name the commit", ev.Text)
		}
	}
	site, motd := needed[siteGroup.ID], needed[motdGroup.ID]
	if got, want := site.Owners.File.Owners, []string{"@kermit", "@fozzie"}; !slices.Equal(got, want) {
		t.Errorf("site.pp group: file owners %v, want %v", got, want)
	}
	if len(site.Owners.Nodes) != 1 || site.Owners.Nodes[0].Path != "manifests/nodes/statler.pp" || !slices.Equal(site.Owners.Nodes[0].Owners, []string{"@statler"}) {
		t.Errorf("site.pp group: node owners %+v, want statler.pp owned by statler", site.Owners.Nodes)
	}
	if got, want := motd.Owners.Module.Owners, []string{"@muppets/ops"}; !slices.Equal(got, want) {
		t.Errorf("motd group: module owners %v, want %v", got, want)
	}
	if got, want := motd.Owners.Module.Logins, []string{"animal", "scooter"}; !slices.Equal(got, want) {
		t.Errorf("motd group: module owner logins %v, want the team's members %v", got, want)
	}
	for id, d := range needed {
		if !strings.Contains(d.Missing, "an admin") {
			t.Errorf("group %s: missing %q does not offer an admin", id, d.Missing)
		}
	}
	if !strings.Contains(site.Missing, "@kermit, @fozzie") || !strings.Contains(motd.Missing, "@muppets/ops") {
		t.Errorf("missing does not name the owners: site %q, motd %q", site.Missing, motd.Missing)
	}

	// A second noop.ready of the same delta announces nothing more.
	h.forgetDuplicates()
	h.publishReady(c.SHA)
	h.settle()
	if got := h.events.counts(c.SHA); got["approval.needed"] != 2 || len(got) != 1 {
		t.Errorf("after a repeated noop.ready, events = %v, want the 2 needed only", got)
	}
}

func TestCommitWithoutGroupsIsCompleteAtOnce(t *testing.T) {
	h := start(t)
	c := commit("no changes")
	h.putNoop(c, []delta.Group{})
	h.publishReady(c.SHA)
	h.settle()
	if got, want := h.events.counts(c.SHA), map[string]int{"approval.complete": 1}; !maps.Equal(got, want) {
		t.Fatalf("events = %v, want %v", got, want)
	}
	st := h.status(c.SHA)
	if !st.Ready || !st.Approved {
		t.Errorf("status ready %v approved %v, want both", st.Ready, st.Approved)
	}
	r := h.approve(c.SHA, "gonzo")
	if !r.Approved || len(h.status(c.SHA).Approvals) != 0 {
		t.Errorf("approving a commit with no changes: %+v; want approved and nothing recorded", r)
	}
}

func TestMalformedNoopReadyIsRejected(t *testing.T) {
	h := start(t)
	h.publishRaw([]byte("not json at all"))
	h.publishRaw(mustJSON(t, protocol.Event{Type: "noop.ready", Text: "no commit"}))
	h.settle()

	rejected := h.events.of("rejected", "")
	if len(rejected) != 2 {
		t.Fatalf("%d rejected events, want 2: %+v", len(rejected), rejected)
	}
	for _, ev := range rejected {
		reason, _ := ev.Data["reason"].(string)
		if ev.Service != "approver" || !strings.Contains(reason, "malformed") || ev.Data["subject"] != "balcony.event.noop.ready" {
			t.Errorf("rejected event %+v: want service approver, subject and a malformed reason", ev)
		}
	}
	if reason, _ := rejected[1].Data["reason"].(string); !strings.Contains(reason, "without a commit") {
		t.Errorf("reason %q does not say the commit is missing", reason)
	}

	// The approver keeps going.
	c := commit("after garbage")
	h.putNoop(c, []delta.Group{siteGroup})
	h.publishReady(c.SHA)
	h.settle()
	if n := len(h.events.of("approval.needed", c.SHA)); n != 1 {
		t.Errorf("after malformed events, %d needed events for a good one, want 1", n)
	}
}

func TestOwnersOfAnUnfetchedParentAreFetched(t *testing.T) {
	h := start(t)
	c := commit("parent not fetched yet")
	c.Parents = []string{revLate}
	h.putNoop(c, []delta.Group{siteGroup})
	h.publishReady(c.SHA)
	h.settle()
	if n := len(h.events.of("approval.needed", c.SHA)); n != 1 {
		t.Fatalf("%d needed events, want 1", n)
	}
	fetches, reads := h.code.stats()
	if fetches != 1 {
		t.Errorf("%d fetches, want 1", fetches)
	}
	// environment.conf, unknown; after the fetch environment.conf, then
	// CODEOWNERS and the node files where it says.
	if got, want := reads, []string{revLate, revLate, revLate}; !slices.Equal(got, want) {
		t.Errorf("files read at %v, want the parent, then again twice after the fetch", got)
	}
	if r := h.approve(c.SHA, "fozzie"); !r.Approved {
		t.Errorf("the owner at the fetched parent approves: %+v", r)
	}
}

func TestOwnersOfAnUnknownParentAreAnError(t *testing.T) {
	h := start(t)
	c := commit("parent nobody has")
	c.Parents = []string{revNever}
	h.putNoop(c, []delta.Group{siteGroup})
	_, err := h.client.Status(context.Background(), c.SHA)
	if err == nil || !strings.Contains(err.Error(), "unknown revision") {
		t.Fatalf("status with an unknown parent: %v, want an unknown revision error", err)
	}
	if fetches, _ := h.code.stats(); fetches != 1 {
		t.Errorf("%d fetches, want 1", fetches)
	}
}

func TestUnknownRevision(t *testing.T) {
	h := start(t)
	for name, call := range map[string]func() error{
		"status": func() error {
			_, err := h.client.Status(context.Background(), "0123456789abcdef")
			return err
		},
		"approve": func() error {
			_, err := h.client.Approve(context.Background(), "0123456789abcdef", "fozzie", "cli", nil)
			return err
		},
		"revoke": func() error {
			_, err := h.client.Revoke(context.Background(), "0123456789abcdef", "fozzie")
			return err
		},
	} {
		if err := call(); err == nil || !strings.Contains(err.Error(), "no noop of this revision") {
			t.Errorf("%s of an unknown revision: %v, want the nooper's unknown commit error", name, err)
		}
	}
}

func TestRestartKeepsRecordsAndAnnouncesNothingTwice(t *testing.T) {
	h := start(t)
	approved, pending := commit("approved before restart"), commit("pending across restart")
	h.putNoop(approved, []delta.Group{siteGroup})
	h.putNoop(pending, []delta.Group{siteGroup, motdGroup})
	h.publishReady(approved.SHA)
	h.publishReady(pending.SHA)
	h.settle()
	h.approve(approved.SHA, "fozzie")
	h.approve(pending.SHA, "gonzo") // recorded, counts for nothing
	h.settle()
	before := map[string]map[string]int{approved.SHA: h.events.counts(approved.SHA), pending.SHA: h.events.counts(pending.SHA)}
	if want := map[string]int{"approval.needed": 1, "approval.granted": 1, "approval.complete": 1}; !maps.Equal(before[approved.SHA], want) {
		t.Fatalf("events of the approved commit = %v, want %v", before[approved.SHA], want)
	}

	h.stopApprover()
	h.forgetDuplicates()
	h.startApprover()

	if st := h.status(approved.SHA); !st.Approved || len(st.Approvals) != 1 || st.Approvals[0].By != "fozzie" {
		t.Errorf("after restart, approved commit: approved %v approvals %+v", st.Approved, st.Approvals)
	}
	if st := h.status(pending.SHA); st.Approved || len(st.Approvals) != 1 || st.Approvals[0].By != "gonzo" {
		t.Errorf("after restart, pending commit: approved %v approvals %+v", st.Approved, st.Approvals)
	}
	h.publishReady(approved.SHA)
	h.publishReady(pending.SHA)
	h.settle()
	for sha, want := range before {
		if got := h.events.counts(sha); !maps.Equal(got, want) {
			t.Errorf("after restart and re-evaluation, events of %s = %v, want still %v", sha[:8], got, want)
		}
	}
}

func TestNewNeedsACodeReader(t *testing.T) {
	h := start(t)
	_, err := approver.New(context.Background(), h.conn, approver.Options{})
	if err == nil {
		t.Fatal("New without a code reader succeeded")
	}
}
