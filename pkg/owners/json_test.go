package owners

import (
	"encoding/json"
	"strings"
	"testing"
)

// Every list of a Status is [] in JSON, even in a zero Status or in a
// group whose owners were never looked up.
func TestStatusJSONHasNoNull(t *testing.T) {
	for _, tt := range []struct {
		name string
		st   Status
		want []string
	}{
		{"zero", Status{}, []string{`"groups":[]`, `"authors":[]`, `"unidentified":[]`, `"problems":[]`, `"held_back":[]`}},
		{"bare group", Status{Groups: []GroupStatus{{ID: "g", Owners: GroupOwners{Nodes: []NodeOwners{{}}}}}},
			[]string{`"via":[]`, `"approved_by":[]`, `"excluded":[]`, `"lapsed":[]`, `"file":{"owners":[],"logins":[]}`, `"hosts":[]`}},
	} {
		b, err := json.Marshal(tt.st)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "null") {
			t.Errorf("%s: %s", tt.name, b)
		}
		for _, w := range tt.want {
			if !strings.Contains(string(b), w) {
				t.Errorf("%s: %s lacks %s", tt.name, b, w)
			}
		}
	}
	st := Status{Groups: []GroupStatus{{ID: "g"}}}
	if _, err := json.Marshal(st); err != nil || st.Groups[0].Via != nil {
		t.Errorf("MarshalJSON changed its Status: %+v, %v", st, err)
	}
}
