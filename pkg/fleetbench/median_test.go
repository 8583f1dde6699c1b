package fleetbench_test

import (
	"testing"

	"github.com/balcony-dev/balcony/pkg/fleetbench"
)

// TestMedian: the table's figures are medians of the runs.
func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		samples []float64
		want    float64
		ok      bool
	}{
		{nil, 0, false},
		{[]float64{3}, 3, true},
		{[]float64{5, 1, 3}, 3, true},
		{[]float64{4, 1, 3, 2}, 2.5, true},
	} {
		f := &fleetbench.Figure{Samples: tc.samples}
		if got, ok := f.Median(); got != tc.want || ok != tc.ok {
			t.Errorf("median of %v = %v, %v; want %v, %v", tc.samples, got, ok, tc.want, tc.ok)
		}
	}
}
