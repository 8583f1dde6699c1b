package committer_test

import (
	"flag"
	"path/filepath"
	"testing"
	"time"

	"github.com/balcony-dev/balcony/pkg/bus/bustest"
	"github.com/balcony-dev/balcony/pkg/committer"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// A trigger record is stored in the triggers bucket: every field names
// itself on the wire, and today's encoding decodes tomorrow.
func TestTriggerRecordWireFormat(t *testing.T) {
	sample := &committer.TriggerRecord{
		Schema: 1, ID: "0123456789abcdef0123456789abcdef", Kind: committer.TriggerRenoop,
		Revision: "main", Commit: balconySHA, Branch: "main", State: committer.TriggerReady,
		Reason:     "nooping: 1 of 2 hosts answered",
		Created:    time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC),
		Dispatched: time.Date(2026, 12, 1, 10, 0, 1, 0, time.UTC),
		Summary: &committer.TriggerSummary{Hosts: 2, Answered: 2, Changes: 1, ChangedHosts: 2, Errors: 1, ErrorHosts: 1,
			Text: "1 change to 1 resource on 2 of 2 hosts; no outliers; 1 error on 1 host"},
	}
	if u := bustest.Untagged(sample); len(u) != 0 {
		t.Errorf("fields without a msgpack name: %v", u)
	}
	if u := bustest.Unset(sample); len(u) != 0 {
		t.Errorf("the sample leaves fields unset, so their names are not checked: %v", u)
	}
	bustest.Golden(t, filepath.Join("testdata", "records", "trigger.msgpack.hex"), *update, sample)
}
