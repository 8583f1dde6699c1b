package applier

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/balcony-dev/balcony/pkg/protocol"
)

func TestChooseTarget(t *testing.T) {
	chain := []string{"a", "b", "c", "d", "e"}
	tests := []struct {
		name     string
		start    int
		approved string
		want     int
	}{
		{"every commit after the start approved", 0, "bcde", 4},
		{"the approved commits in a row, up to the first that is not", 0, "bce", 2},
		{"the first after the start not approved", 1, "bde", -1},
		{"the start is the tip", 4, "abcde", -1},
		{"approvals before the start do not matter", 2, "de", 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := chooseTarget(chain, tt.start, func(i int) (bool, error) {
				return strings.Contains(tt.approved, chain[i]), nil
			})
			if err != nil || got != tt.want {
				t.Errorf("chooseTarget = %d, %v; want %d", got, err, tt.want)
			}
		})
	}
	boom := errors.New("approver down")
	if _, err := chooseTarget(chain, 0, func(int) (bool, error) { return false, boom }); !errors.Is(err, boom) {
		t.Errorf("an approver error: %v", err)
	}
}

func TestRangeFor(t *testing.T) {
	r := &Rollout{Base: "a", Range: nil}
	if _, ok := rangeFor(r, "a"); ok {
		t.Error("an empty range gives a host something to apply")
	}
	for _, c := range []string{"b", "c", "d"} {
		r.Range = append(r.Range, protocol.ApprovedCommit{SHA: c})
	}
	for from, want := range map[string][]string{"a": {"b", "c", "d"}, "b": {"c", "d"}, "d": {}, "x": nil} {
		got, ok := rangeFor(r, from)
		if (want != nil) != ok {
			t.Errorf("from %s: ok %v", from, ok)
			continue
		}
		var shas []string
		for _, c := range got {
			shas = append(shas, c.SHA)
		}
		if len(shas) != len(want) || !slices.Equal(shas, want) {
			t.Errorf("from %s: %v, want %v", from, shas, want)
		}
	}
}

// A set's command prints host names, one per line: blank lines and
// comments left out, names lower-cased; a failing command says why.
func TestListHosts(t *testing.T) {
	got, err := listHosts(context.Background(), []string{"sh", "-c", `printf 'Fozzie.Example.com\n\n# the balcony\n  statler.example.com  \n'`})
	if err != nil || !slices.Equal(got, []string{"fozzie.example.com", "statler.example.com"}) {
		t.Errorf("listHosts = %v, %v", got, err)
	}
	_, err = listHosts(context.Background(), []string{"sh", "-c", "echo no inventory >&2; exit 3"})
	if err == nil || !strings.Contains(err.Error(), "no inventory") {
		t.Errorf("a failing command: %v, want its stderr", err)
	}
	if _, err := listHosts(context.Background(), nil); err == nil {
		t.Error("an empty command: no error")
	}
}
