package approver_test

import (
	"encoding/json"
	"testing"

	"github.com/nats-io/nats.go/micro"

	"github.com/balcony-dev/balcony/pkg/version"
)

// The micro service reports the build's version, the one every command
// reports, unless told another.
func TestServiceReportsTheBuildVersion(t *testing.T) {
	h := start(t)
	m, err := h.client.NC.Request("$SRV.INFO.balcony-approver", nil, wait)
	if err != nil {
		t.Fatal(err)
	}
	var info micro.Info
	if err := json.Unmarshal(m.Data, &info); err != nil {
		t.Fatal(err)
	}
	if info.Version != version.String() {
		t.Errorf("version %q, want %q", info.Version, version.String())
	}
}
