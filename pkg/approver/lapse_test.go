package approver_test

import (
	"maps"
	"slices"
	"testing"

	"github.com/balcony-dev/balcony/pkg/delta"
	"github.com/balcony-dev/balcony/pkg/report"
)

// TestReNoop re-noops an approved commit: the nooper replaces the
// collection's result and announces noop.ready again.
func TestReNoop(t *testing.T) {
	moreHosts := siteGroup
	moreHosts.Hosts = []string{"statler.example.com", "waldorf.example.com"}
	otherContent := siteGroup
	otherContent.Resource.Events = []report.Event{{Property: "content", Previous: "{md5}0", Desired: "{md5}2", Status: "noop"}}

	tests := []struct {
		name   string
		renoop delta.Group // same ID as siteGroup
		lapses bool
	}{
		{name: "identical result keeps the approval", renoop: siteGroup},
		{name: "more hosts lapse the approval", renoop: moreHosts, lapses: true},
		{name: "other content under the same id lapses the approval", renoop: otherContent, lapses: true},
	}
	h := start(t)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := commit("renoop " + string(rune('a'+i)))
			h.putNoop(c, []delta.Group{siteGroup})
			h.publishReady(c.SHA)
			h.settle()
			if r := h.approve(c.SHA, "fozzie"); !r.Approved {
				t.Fatalf("fozzie approves: %+v", r)
			}
			h.settle()
			approved := map[string]int{"approval.needed": 1, "approval.granted": 1, "approval.complete": 1}
			if got := h.events.counts(c.SHA); !maps.Equal(got, approved) {
				t.Fatalf("events before the re-noop = %v, want %v", got, approved)
			}

			h.forgetDuplicates()
			h.putNoop(c, []delta.Group{tt.renoop})
			h.publishReady(c.SHA)
			h.settle()

			st := h.status(c.SHA)
			g := groupStatus(t, st, siteGroup.ID)
			want := maps.Clone(approved)
			if !tt.lapses {
				if !st.Approved || len(g.Lapsed) != 0 {
					t.Errorf("after an identical re-noop: approved %v lapsed %v", st.Approved, g.Lapsed)
				}
			} else {
				if st.Approved || g.Approved || !slices.Equal(g.Lapsed, []string{"fozzie"}) {
					t.Errorf("after a changed re-noop: approved %v, group approved %v lapsed %v; want fozzie's approval lapsed", st.Approved, g.Approved, g.Lapsed)
				}
				want["approval.lapsed"]++
				want["approval.needed"]++
				if lapsed := h.events.of("approval.lapsed", c.SHA); len(lapsed) == 1 && lapsed[0].Data["group"] != siteGroup.ID {
					t.Errorf("lapsed event of group %v, want %s", lapsed[0].Data["group"], siteGroup.ID)
				}
			}
			if got := h.events.counts(c.SHA); !maps.Equal(got, want) {
				t.Errorf("events after the re-noop = %v, want %v", got, want)
			}

			// The same result again announces nothing.
			h.forgetDuplicates()
			h.publishReady(c.SHA)
			h.settle()
			if got := h.events.counts(c.SHA); !maps.Equal(got, want) {
				t.Errorf("events after a repeated noop.ready = %v, want still %v", got, want)
			}
			if !tt.lapses {
				return
			}

			// Approving what is shown now completes the commit again.
			if r := h.approve(c.SHA, "fozzie"); !r.Approved {
				t.Fatalf("fozzie approves the new content: %+v", r)
			}
			h.settle()
			want["approval.granted"]++
			want["approval.complete"]++
			if got := h.events.counts(c.SHA); !maps.Equal(got, want) {
				t.Errorf("events after approving the new content = %v, want %v", got, want)
			}
		})
	}
}
