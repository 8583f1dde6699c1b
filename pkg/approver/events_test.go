package approver_test

import (
	"encoding/json"
	"testing"

	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/bus/bustest"
	"github.com/balcony-dev/balcony/pkg/owners"
	"github.com/balcony-dev/balcony/pkg/protocol"
)

// events is the EVENTS log with the approver's counts.
type events struct{ *bustest.EventLog }

func subscribeEvents(t testing.TB, conn *bus.Conn) *events {
	return &events{bustest.Events(t, conn)}
}

func (e *events) seen() uint64                           { return e.Seen() }
func (e *events) of(typ, commit string) []protocol.Event { return e.Of(typ, commit) }

// counts counts the approval events of commit by type.
func (e *events) counts(commit string) map[string]int {
	out := map[string]int{}
	for _, typ := range []string{"approval.needed", "approval.granted", "approval.lapsed", "approval.complete"} {
		if n := len(e.of(typ, commit)); n > 0 {
			out[typ] = n
		}
	}
	return out
}

// neededData is the Data of an approval.needed event.
type neededData struct {
	Group   string             `json:"group"`
	Owners  owners.GroupOwners `json:"owners"`
	Missing string             `json:"missing"`
}

func decodeData(t *testing.T, ev protocol.Event, v any) {
	t.Helper()
	if err := json.Unmarshal(mustJSON(t, ev.Data), v); err != nil {
		t.Fatalf("data of %s: %v", ev.Type, err)
	}
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
