package delta_test

import (
	"testing"

	"github.com/balcony-dev/balcony/pkg/delta"
	"github.com/balcony-dev/balcony/pkg/report"
)

// TestResultDigestGolden pins Result.Digest, stored as an approval record's
// NoopDigest and announced with noop.ready: it is written field by field
// (never by encoding the struct), so fields added to Result or Group leave
// it unchanged; only what it names changes it.
func TestResultDigestGolden(t *testing.T) {
	g := delta.Group{ID: "0123456789abcdef", Resource: report.Resource{ID: "File[/etc/motd]"}, Hosts: []string{"a.example.com", "b.example.com"}}
	full := &delta.Result{
		Commit: "1111111111111111111111111111111111111111", Parent: "2222222222222222222222222222222222222222",
		Hosts: []string{"a.example.com", "b.example.com", "c.example.com"}, Groups: []delta.Group{g}, Withdrawn: []delta.Group{g}, Drift: []delta.Group{g},
		Errors:     []delta.ErrorGroup{{Message: "Could not find class ::nope", Hosts: []string{"b.example.com"}}},
		Baselines:  []delta.BaselineNote{{Host: "a.example.com", Revision: "3333333333333333333333333333333333333333", Reason: delta.ReasonParentFailed}},
		Unanswered: []string{"c.example.com"},
		PerHost:    map[string][]report.Resource{"a.example.com": {g.Resource}},
		Ignored:    []delta.IgnoredNote{{Type: "File", Title: ".*", Purpose: "p", Resources: []string{"File[/x]"}, Hosts: []string{"a.example.com"}}},
	}
	for _, c := range []struct {
		name string
		r    *delta.Result
		want string
	}{
		{"empty", &delta.Result{}, "f8d99382bf477bf90064cc4b24e87cdac996b949a7dd72a042dc517744f495f6"},
		{"full", full, "4a0f226aa925c7b393b8b2d4d220ba6d7fc4d5f078a506635780d54e4d4fb48a"},
	} {
		if got := c.r.Digest(); got != c.want {
			t.Errorf("%s: digest %s, want %s", c.name, got, c.want)
		}
	}
}
