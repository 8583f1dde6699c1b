package nooper_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go/micro"

	"github.com/balcony-dev/balcony/pkg/bus/bustest"
	"github.com/balcony-dev/balcony/pkg/version"
)

// The micro service reports the build's version, the one every command
// reports, unless told another.
func TestServiceReportsTheBuildVersion(t *testing.T) {
	srv := bustest.Start(t)
	startNooper(t, srv, testOptions())
	cl := bustest.Client(t, srv)
	var info micro.Info
	eventually(t, 10*time.Second, "the nooper service answers", func() bool {
		m, err := cl.NC.Request("$SRV.INFO.balcony-nooper", nil, time.Second)
		return err == nil && json.Unmarshal(m.Data, &info) == nil
	})
	if info.Version != version.String() {
		t.Errorf("version %q, want %q", info.Version, version.String())
	}
}
