package nooper

import (
	"flag"
	"path/filepath"
	"testing"
	"time"

	"github.com/balcony-dev/balcony/pkg/bus/bustest"
	"github.com/balcony-dev/balcony/pkg/protocol"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestStoredCommitRecord pins the commits bucket's record, the one stored
// record of an unexported type (the others are in the approver's
// records_test.go, which sees every package).
func TestStoredCommitRecord(t *testing.T) {
	at := time.Date(2025, 3, 1, 12, 0, 0, 123456789, time.UTC)
	sample := &storedCommit{Schema: protocol.SchemaVersion, Commit: protocol.Commit{
		SHA: "1111111111111111111111111111111111111111", Parents: []string{"2222222222222222222222222222222222222222"},
		Author: "Kermit", AuthorEmail: "kermit@example.com", Time: at, Subject: "motd: greet", Message: "motd: greet\n",
	}}
	for _, f := range bustest.Unset(sample) {
		t.Errorf("sample leaves %s unset", f)
	}
	for _, f := range bustest.Untagged(sample) {
		t.Errorf("%s has no msgpack tag", f)
	}
	bustest.Golden(t, filepath.Join("testdata", "records", "stored-commit.msgpack.hex"), *update, sample)
}
