package bus_test

import (
	"context"
	"testing"
	"time"

	"github.com/balcony-dev/balcony/pkg/bus"
)

func TestObjectContext(t *testing.T) {
	for _, tc := range []struct {
		size uint64
		want time.Duration
	}{
		{0, time.Minute},
		{256 << 10, time.Minute + time.Second},
		{100 << 20, time.Minute + 400*time.Second},
	} {
		if got := bus.ObjectTimeout(tc.size); got != tc.want {
			t.Errorf("ObjectTimeout(%d) = %v, want %v", tc.size, got, tc.want)
		}
	}
	// A deadline the caller set is kept.
	parent, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	want, _ := parent.Deadline()
	ctx, done := bus.ObjectContext(parent, 1<<30)
	defer done()
	if got, _ := ctx.Deadline(); !got.Equal(want) {
		t.Errorf("deadline %v, want the caller's %v", got, want)
	}
	ctx, done = bus.ObjectContext(context.Background(), 0)
	defer done()
	if _, ok := ctx.Deadline(); !ok {
		t.Error("no deadline set on a context without one")
	}
}
