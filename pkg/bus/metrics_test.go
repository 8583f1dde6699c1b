package bus_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/metrics/metricstest"
	"github.com/balcony-dev/balcony/pkg/protocol"
)

// Rejections are counted by service and a reason class, whatever the
// free text of the reason: the label set stays bounded.
func TestRejectionsCountedByServiceAndClass(t *testing.T) {
	reg := prometheus.NewRegistry()
	c, err := bus.Connect(context.Background(), bus.Options{
		Name: t.Name(), Embedded: bus.EmbeddedOptions{DataDir: t.TempDir(), Listen: "127.0.0.1:0"}, Log: zerolog.Nop(), Registerer: reg,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	var v protocol.RunResult
	garbage := bus.Unmarshal([]byte("\xc1 not msgpack"), &v)
	future, _ := bus.Marshal(protocol.RunResult{Schema: protocol.SchemaVersion + 1})
	schema := bus.Unmarshal(future, &v)
	wrongShape, _ := bus.Marshal(map[string]any{"schema": protocol.SchemaVersion, "run_id": []int{1}})
	shape := bus.Unmarshal(wrongShape, &v)
	ctx := context.Background()
	for i, reason := range []error{garbage, schema, shape, fmt.Errorf("%w: report %d answers no run asked", bus.ErrMalformed, 1), fmt.Errorf("%w: report %d answers no run asked", bus.ErrMalformed, 2)} {
		if reason == nil {
			t.Fatalf("reason %d: Unmarshal accepted it", i)
		}
		c.Reject(ctx, "nooper", "balcony.report.noop.a.example.com", reason)
	}
	c.RejectRun(ctx, "a.example.com", "balcony.run.noop.a.example.com", garbage)
	for _, tt := range []struct {
		service, reason string
		want            float64
	}{
		{"nooper", bus.RejectUndecodable, 2},
		{"nooper", bus.RejectSchema, 1},
		{"nooper", bus.RejectInvalid, 2},
		{"agent", bus.RejectUndecodable, 1},
	} {
		if got := metricstest.Value(t, reg, "balcony_bus_rejections_total", "service", tt.service, "reason", tt.reason); got != tt.want {
			t.Errorf("rejections{service=%s,reason=%s} = %v, want %v", tt.service, tt.reason, got, tt.want)
		}
	}
	if got := metricstest.Value(t, reg, "balcony_bus_rejections_total"); got != 6 {
		t.Errorf("rejections in all = %v, want 6 (no other series)", got)
	}
	// The reason's text is what it was: the class is only the label.
	if got := schema.Error(); got != fmt.Sprintf("malformed message: schema version %d, want %d", protocol.SchemaVersion+1, protocol.SchemaVersion) {
		t.Errorf("schema error text %q", got)
	}
}
