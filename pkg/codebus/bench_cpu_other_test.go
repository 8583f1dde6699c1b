//go:build !unix

package codebus

import "time"

// cpuTime is not measured here: BenchmarkFleetCode leaves out its
// cpu-ms/agent.
func cpuTime() time.Duration { return 0 }
