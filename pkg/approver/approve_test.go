package approver_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/balcony-dev/balcony/pkg/approver"
	"github.com/balcony-dev/balcony/pkg/delta"
	"github.com/balcony-dev/balcony/pkg/metrics/metricstest"
	"github.com/balcony-dev/balcony/pkg/owners"
	"github.com/balcony-dev/balcony/pkg/protocol"
)

// TestApprovalRules approves each commit as one identity through the
// Client and checks what counted. Owners are those of testdata/parent;
// testdata/commit, where gonzo owns everything, is the commit's own tree.
func TestApprovalRules(t *testing.T) {
	h := start(t)
	tests := []struct {
		name   string
		commit func(protocol.Commit) protocol.Commit // nil: beaker's commit
		groups []delta.Group
		by     string
		// approved: the commit is complete; counted: the groups the
		// approval counts for.
		approved bool
		counted  []string
		via      []string // of the first group, when counted
		excluded bool     // the approval is an author's
		message  string   // in the reply
	}{
		{name: "non-owner is recorded but does not count", groups: []delta.Group{siteGroup}, by: "rowlf",
			message: "recorded, but it approves no group: rowlf is not an owner"},
		{name: "file owner completes", groups: []delta.Group{siteGroup}, by: "@Fozzie",
			approved: true, counted: []string{siteGroup.ID}, via: []string{owners.ViaFile}, message: "the commit is approved"},
		{name: "node file owner completes", groups: []delta.Group{siteGroup}, by: "statler",
			approved: true, counted: []string{siteGroup.ID}, via: []string{owners.ViaNodes}},
		{name: "owner of one group of two", groups: []delta.Group{siteGroup, motdGroup}, by: "kermit",
			counted: []string{siteGroup.ID}, via: []string{owners.ViaFile}, message: "approves 1 of the commit's groups"},
		{name: "author never counts", by: "kermit", groups: []delta.Group{siteGroup},
			commit: func(c protocol.Commit) protocol.Commit {
				c.Author, c.AuthorEmail = "Kermit", "Kermit@Muppets.example"
				return c
			},
			excluded: true, message: "approves no group: kermit is an author or co-author of the commit, and authors and co-authors never approve their own commit"},
		{name: "co-author never counts", by: "fozzie", groups: []delta.Group{siteGroup},
			commit: func(c protocol.Commit) protocol.Commit {
				c.Message = "motd\n\nCo-authored-by: Fozzie Bear <fozzie@muppets.example>\n"
				return c
			},
			excluded: true, message: "approves no group: fozzie is an author or co-author of the commit, and authors and co-authors never approve their own commit"},
		{name: "co-author in the team never counts", by: "scooter", groups: []delta.Group{motdGroup},
			commit: func(c protocol.Commit) protocol.Commit {
				c.Message = "motd\n\nco-authored-by: Scooter <SCOOTER@muppets.example>\n"
				return c
			},
			excluded: true, message: "authors and co-authors never approve their own commit"},
		{name: "admin approves anything", groups: []delta.Group{siteGroup, motdGroup}, by: "bunsen",
			approved: true, counted: []string{siteGroup.ID, motdGroup.ID}, via: []string{owners.ViaAdmin}},
		{name: "team member approves the team's module", groups: []delta.Group{motdGroup}, by: "Animal",
			approved: true, counted: []string{motdGroup.ID}, via: []string{owners.ViaFile, owners.ViaModule}},
		{name: "owners in the commit's own CODEOWNERS grant nothing", groups: []delta.Group{siteGroup, motdGroup}, by: "gonzo",
			message: "approves no group"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := commit("rule " + string(rune('a'+i)))
			if tt.commit != nil {
				c = tt.commit(c)
			}
			h.putNoop(c, tt.groups)
			r, err := h.client.Approve(context.Background(), c.SHA, tt.by, owners.SourceCLI, nil)
			if err != nil {
				t.Fatal(err)
			}
			if r.Commit != c.SHA || r.Approved != tt.approved || !slices.Equal(r.Counted, tt.counted) {
				t.Errorf("reply %+v, want approved %v counted %v", r, tt.approved, tt.counted)
			}
			if !strings.Contains(r.Message, tt.message) {
				t.Errorf("reply message %q, want it to contain %q", r.Message, tt.message)
			}
			st := h.status(c.SHA)
			who := owners.Normalize(tt.by)
			if len(st.Approvals) != 1 || st.Approvals[0].By != who || st.Approvals[0].Source != owners.SourceCLI {
				t.Fatalf("approvals %+v, want one by %s from the cli", st.Approvals, who)
			}
			if st.Approved != tt.approved {
				t.Errorf("status approved %v, want %v", st.Approved, tt.approved)
			}
			g := groupStatus(t, st, tt.groups[0].ID)
			if tt.counted != nil && !slices.Equal(g.Via, tt.via) {
				t.Errorf("group %s approved via %v, want %v", g.ID, g.Via, tt.via)
			}
			if got := slices.Contains(g.Excluded, who); got != tt.excluded {
				t.Errorf("group %s excluded %v, want %s excluded: %v", g.ID, g.Excluded, who, tt.excluded)
			}
			if tt.excluded && !slices.Contains(st.Status.Authors, who) {
				t.Errorf("authors %v do not include %s", st.Status.Authors, who)
			}
		})
	}
	// Ownership was read at the parent only, never at a commit.
	_, reads := h.code.stats()
	for _, rev := range reads {
		if rev != revParent {
			t.Errorf("CODEOWNERS and nodes read at %s, want only at the first parent", rev)
		}
	}
}

func TestApproveSomeGroupsAnnouncesGrantedThenComplete(t *testing.T) {
	h := start(t)
	c := commit("in two steps")
	h.putNoop(c, []delta.Group{siteGroup, motdGroup})
	h.publishReady(c.SHA)
	h.settle()
	pending := func(commits, groups float64) {
		t.Helper()
		if got := metricstest.Value(t, h.metrics, "balcony_approver_commits_pending"); got != commits {
			t.Errorf("balcony_approver_commits_pending = %v, want %v", got, commits)
		}
		if got := metricstest.Value(t, h.metrics, "balcony_approver_groups_pending"); got != groups {
			t.Errorf("balcony_approver_groups_pending = %v, want %v", got, groups)
		}
	}
	pending(1, 2)

	r, err := h.client.Approve(context.Background(), c.SHA, "scooter", owners.SourceChat, []string{motdGroup.ID})
	if err != nil || r.Approved || !slices.Equal(r.Counted, []string{motdGroup.ID}) {
		t.Fatalf("scooter approves the motd group: %+v, %v", r, err)
	}
	pending(1, 1)
	if _, err := h.client.Approve(context.Background(), c.SHA, "fozzie", owners.SourceCLI, []string{"no-such-group"}); err == nil {
		t.Error("approving a group the commit does not have succeeded")
	}
	r = h.approve(c.SHA, "fozzie")
	if !r.Approved {
		t.Fatalf("fozzie completes: %+v", r)
	}
	h.settle()
	got := h.events.counts(c.SHA)
	if want := (map[string]int{"approval.needed": 2, "approval.granted": 2, "approval.complete": 1}); !maps.Equal(got, want) {
		t.Errorf("events = %v, want %v", got, want)
	}
	granted := h.events.of("approval.granted", c.SHA)
	if len(granted) == 2 && (fmt.Sprint(granted[0].Data["by"]) != "[scooter]" || fmt.Sprint(granted[1].Data["by"]) != "[fozzie]") {
		t.Errorf("granted events by %v then %v, want scooter then fozzie", granted[0].Data["by"], granted[1].Data["by"])
	}
	pending(0, 0)
	for _, m := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"balcony_approver_approvals_total", []string{"source", owners.SourceChat}, 1},
		{"balcony_approver_approvals_total", nil, 2},
		{"balcony_approver_events_total", []string{"type", "approval.needed"}, 2},
		{"balcony_approver_events_total", []string{"type", "approval.complete"}, 1},
	} {
		if got := metricstest.Value(t, h.metrics, m.name, m.labels...); got != m.want {
			t.Errorf("%s%v = %v, want %v", m.name, m.labels, got, m.want)
		}
	}
}

func TestRevoke(t *testing.T) {
	h := start(t)
	c := commit("revoked")
	h.putNoop(c, []delta.Group{siteGroup})
	h.approve(c.SHA, "rowlf")
	if r := h.approve(c.SHA, "fozzie"); !r.Approved {
		t.Fatalf("fozzie approves: %+v", r)
	}
	h.approve(c.SHA, "fozzie")

	r, err := h.client.Revoke(context.Background(), c.SHA, "@FOZZIE")
	if err != nil {
		t.Fatal(err)
	}
	if r.Approved || !strings.Contains(r.Message, "2 approvals by fozzie withdrawn") {
		t.Errorf("revoke reply %+v, want not approved and 2 withdrawn", r)
	}
	st := h.status(c.SHA)
	if st.Approved || len(st.Approvals) != 1 || st.Approvals[0].By != "rowlf" {
		t.Errorf("after revoke: approved %v approvals %+v, want rowlf's only", st.Approved, st.Approvals)
	}
	if r, err := h.client.Revoke(context.Background(), c.SHA, "fozzie"); err != nil || !strings.Contains(r.Message, "0 approvals") {
		t.Errorf("revoking again: %+v, %v", r, err)
	}
	if got := metricstest.Value(t, h.metrics, "balcony_approver_revocations_total"); got != 1 {
		t.Errorf("balcony_approver_revocations_total = %v, want 1 (the second revoked nothing)", got)
	}
}

func TestApproveBeforeTheNoopIsReady(t *testing.T) {
	h := start(t)
	c := commit("still collecting")
	h.putNoop(c, nil)

	st := h.status(c.SHA)
	if st.Ready || st.Approved || len(st.Groups) != 0 {
		t.Errorf("status of a collecting noop: %+v", st)
	}
	_, err := h.client.Approve(context.Background(), c.SHA, "fozzie", owners.SourceCLI, nil)
	if !errors.Is(err, approver.ErrNotReady) || !strings.Contains(err.Error(), "has not finished") {
		t.Errorf("client approve: %v, want ErrNotReady", err)
	}
	// A request straight to the service, bypassing the client's check.
	req := approver.ApproveRequest{Revision: c.SHA, Source: owners.SourceCLI, Groups: map[string]string{siteGroup.ID: owners.GroupDigest(siteGroup)}}
	_, code, desc := h.request(approver.ApprovePrefix+"fozzie", mustJSON(t, req))
	if code != "404" || !strings.Contains(desc, "has not finished") {
		t.Errorf("service approve: code %q %q, want 404 saying the noop has not finished", code, desc)
	}
	if st := h.status(c.SHA); len(st.Approvals) != 0 {
		t.Errorf("approvals recorded before the noop finished: %+v", st.Approvals)
	}
}

func TestMalformedApproveRequests(t *testing.T) {
	h := start(t)
	c := commit("malformed requests")
	h.putNoop(c, []delta.Group{siteGroup})
	groups := map[string]string{siteGroup.ID: owners.GroupDigest(siteGroup)}
	tests := []struct {
		name, subject string
		data          []byte
		desc          string
	}{
		{"bad json", approver.ApprovePrefix + "fozzie", []byte("{approve"), "malformed"},
		{"unknown source", approver.ApprovePrefix + "fozzie",
			mustJSON(t, approver.ApproveRequest{Revision: c.SHA, Source: "email", Groups: groups}), `source "email"`},
		{"no groups", approver.ApprovePrefix + "fozzie",
			mustJSON(t, approver.ApproveRequest{Revision: c.SHA, Source: owners.SourceCLI}), "groups"},
		{"bad revoke json", approver.RevokePrefix + "fozzie", []byte("[]"), "malformed"},
		{"bad status json", approver.StatusSubject, []byte("nope"), "malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reply, code, desc := h.request(tt.subject, tt.data)
			if code != "400" || !strings.Contains(desc, tt.desc) {
				t.Errorf("reply %q code %q %q, want 400 containing %q", reply, code, desc, tt.desc)
			}
		})
	}
	if st := h.status(c.SHA); len(st.Approvals) != 0 || st.Approved {
		t.Errorf("after malformed requests: approved %v approvals %+v, want none", st.Approved, st.Approvals)
	}
}

// TestApproveRefusesInvalidIdentities: the identity is the last token of
// the subject, and NATS delivers a literal "*" or ">" there to the
// approver's wildcard subscription: only a valid login may approve or
// revoke, whether the request comes through the Client or not.
func TestApproveRefusesInvalidIdentities(t *testing.T) {
	h := start(t)
	c := commit("invalid identities")
	h.putNoop(c, []delta.Group{siteGroup})
	groups := map[string]string{siteGroup.ID: owners.GroupDigest(siteGroup)}
	approve := mustJSON(t, approver.ApproveRequest{Revision: c.SHA, Source: owners.SourceCLI, Groups: groups})
	revoke := mustJSON(t, approver.RevokeRequest{Revision: c.SHA})
	for _, subject := range []string{
		approver.ApprovePrefix + "*", approver.ApprovePrefix + ">", approver.ApprovePrefix + "-kermit",
		approver.RevokePrefix + "*", approver.RevokePrefix + ">",
	} {
		data := approve
		if strings.HasPrefix(subject, approver.RevokePrefix) {
			data = revoke
		}
		reply, code, desc := h.request(subject, data)
		if code != "400" || !strings.Contains(desc, "is not a valid login") || !strings.Contains(desc, "letters, digits and single hyphens") {
			t.Errorf("%s: reply %q code %q %q, want 400 naming the login rule", subject, reply, code, desc)
		}
	}
	for _, who := range []string{"*", ">", "kermit.frog", "ker mit"} {
		if _, err := h.client.Approve(context.Background(), c.SHA, who, owners.SourceCLI, nil); !errors.Is(err, owners.ErrInvalidLogin) {
			t.Errorf("client approve as %q: %v, want ErrInvalidLogin", who, err)
		}
		if _, err := h.client.Revoke(context.Background(), c.SHA, who); !errors.Is(err, owners.ErrInvalidLogin) {
			t.Errorf("client revoke as %q: %v, want ErrInvalidLogin", who, err)
		}
	}
	if st := h.status(c.SHA); len(st.Approvals) != 0 || st.Approved {
		t.Errorf("after invalid identities: approved %v approvals %+v, want none", st.Approved, st.Approvals)
	}
	// A valid login, written with its @, still approves.
	if r := h.approve(c.SHA, "@Fozzie"); !r.Approved {
		t.Errorf("fozzie approves: %+v", r)
	}
}
