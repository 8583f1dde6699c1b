// Package fleetsim is a fake fleet for load tests and benchmarks: many
// hosts, registered in the hosts bucket as agents are, that answer each
// noop run they receive at once (or when released) with a RECORDED real
// Puppet report carrying their own name, without running Puppet. It also
// builds the real git repository such a test's nooper mirrors. It is never
// for end-to-end tests, which run real agents and Puppet.
package fleetsim

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"github.com/balcony-dev/balcony/pkg/report"
)

// RecordedHost is the recorded host whose reports a fake fleet answers
// with: the one whose recorded runs all compiled.
const RecordedHost = "fozzie.example.com"

// RecordedRevisions are the recorded runs used, in the order of the
// repository's commits: consecutive ones differ, so each commit has a
// delta to compute.
var RecordedRevisions = []string{"r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7"}

// ReportsDir is pkg/report/testdata of the source tree this package was
// built from, where pkg/report/testdata/record.sh recorded real Puppet
// 7.23 runs.
func ReportsDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "report", "testdata")
}

// LoadReports parses the recorded reports of RecordedHost in dir, in the
// order of RecordedRevisions, as the agent normalizes them (with the
// checkout and host root record.sh used).
func LoadReports(dir string) ([]*report.Report, error) {
	data, err := os.ReadFile(filepath.Join(dir, "record.json"))
	if err != nil {
		return nil, fmt.Errorf("recorded reports: %w", err)
	}
	var rec struct {
		Tmp string `json:"tmp"`
	}
	if err := json.Unmarshal(data, &rec); err != nil {
		return nil, fmt.Errorf("recorded reports: record.json: %w", err)
	}
	out := make([]*report.Report, 0, len(RecordedRevisions))
	for _, rev := range RecordedRevisions {
		path := filepath.Join(dir, rev+"."+RecordedHost+".yaml")
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("recorded reports: %w", err)
		}
		r, err := report.Parse(data, report.ParseOptions{
			CodeDir:  filepath.Join(rec.Tmp, "code", rev),
			HostRoot: filepath.Join(rec.Tmp, "hosts", RecordedHost),
		})
		if err != nil {
			return nil, fmt.Errorf("recorded reports: parse %s: %w", path, err)
		}
		if r.Failed || len(r.Resources) == 0 {
			return nil, fmt.Errorf("recorded reports: %s failed or shows nothing", path)
		}
		out = append(out, r)
	}
	return out, nil
}

// Replicate returns a copy of r with n resources: r's own, repeated with
// distinct titles (and ids) once they run out, as a large catalog would
// show, sorted by ID as report.Parse leaves them. Events and diffs are
// shared with r: callers must not modify them.
func Replicate(r *report.Report, n int) *report.Report {
	out := *r
	out.Resources = make([]report.Resource, 0, n)
	for i := 0; len(out.Resources) < n; i++ {
		for _, res := range r.Resources {
			if len(out.Resources) == n {
				break
			}
			if i > 0 {
				res.Title = fmt.Sprintf("%s-%d", res.Title, i)
				res.ID = fmt.Sprintf("%s[%s]", res.Type, res.Title)
			}
			out.Resources = append(out.Resources, res)
		}
	}
	slices.SortStableFunc(out.Resources, func(a, b report.Resource) int { return strings.Compare(a.ID, b.ID) })
	return &out
}

// ForHost is r as host's own report: its name put in. The resources are
// shared with r.
func ForHost(r *report.Report, host string) *report.Report {
	out := *r
	out.Host = host
	return &out
}
