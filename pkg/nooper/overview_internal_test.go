package nooper

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/balcony-dev/balcony/pkg/delta"
	"github.com/balcony-dev/balcony/pkg/protocol"
)

func col(sha, parent string, started int, groups ...delta.Group) *Collection {
	c := &Collection{Commit: protocol.Commit{SHA: sha}, State: StateReady, Started: time.Unix(int64(started), 0),
		Result: &delta.Result{Commit: sha, Hosts: []string{"a", "b"}, Groups: groups}}
	if parent != "" {
		c.Commit.Parents = []string{parent}
	}
	return c
}

func shas(cs []*Collection) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Commit.SHA)
	}
	return out
}

func TestChainOrder(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []*Collection
		want []string
	}{
		{"one chain, stored in any order", []*Collection{col("b", "a", 2), col("c", "b", 3), col("a", "", 1)}, []string{"c", "b", "a"}},
		// A commit pushed before its parent was nooped still follows it.
		{"chain beats start time", []*Collection{col("b", "a", 5), col("a", "", 9)}, []string{"b", "a"}},
		{"two heads, newest first", []*Collection{col("x", "a", 4), col("a", "", 1), col("y", "a", 6)}, []string{"y", "a", "x"}},
		{"a parent never nooped", []*Collection{col("d", "gone", 2), col("e", "d", 3)}, []string{"e", "d"}},
		{"nothing", nil, []string(nil)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, shas(chainOrder(tc.in))); diff != "" {
				t.Errorf("order (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStateOf(t *testing.T) {
	motd := delta.Group{ID: "m", Hosts: []string{"a", "b"}}
	seat := delta.Group{ID: "s", Hosts: []string{"b"}}
	drift := delta.Group{ID: "d", Hosts: []string{"a"}}
	a := col("a", "", 1)
	b := col("b", "a", 2, motd)
	c := col("c", "b", 3, seat)
	c.Result.Drift = []delta.Group{drift}
	c.Result.Errors = []delta.ErrorGroup{{Message: "compile failed\nmore", Hosts: []string{"b"}}}
	running := col("d", "c", 4, seat)
	running.State = StateCollecting
	order := chainOrder([]*Collection{a, b, c, running})

	for _, tc := range []struct {
		host, applied string
		pending       []string
		groups        int
		drift         int
		failed        string
	}{
		{"a", "a", []string{"b"}, 1, 1, ""},
		{"b", "a", []string{"c", "b"}, 2, 0, "compile failed"},
		{"b", "b", []string{"c"}, 1, 0, "compile failed"},
		{"b", "c", nil, 0, 0, ""},
		{"a", "", []string{"b"}, 1, 1, ""},
		{"zed", "", nil, 0, 0, ""},
	} {
		st := stateOf(order, tc.host, tc.applied)
		var pending []string
		for _, p := range st.pending {
			pending = append(pending, p.Commit.SHA)
		}
		if diff := cmp.Diff(tc.pending, pending); diff != "" {
			t.Errorf("%s applied at %q: pending (-want +got):\n%s", tc.host, tc.applied, diff)
		}
		if st.groups != tc.groups || len(st.drift) != tc.drift || st.failed != tc.failed {
			t.Errorf("%s applied at %q: %d groups, %d drift, failed %q; want %d, %d, %q", tc.host, tc.applied, st.groups, len(st.drift), st.failed, tc.groups, tc.drift, tc.failed)
		}
	}

	now := time.Unix(1000, 0)
	s := hostSummary(protocol.HostInfo{Host: "b", Seen: now.Add(-2 * time.Hour)}, stateOf(order, "b", ""), now, time.Hour)
	if !s.Silent || s.PendingCommits != 2 || s.PendingGroups != 2 {
		t.Errorf("summary of b: %+v", s)
	}
}
