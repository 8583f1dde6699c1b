// Package reporttest loads the Puppet reports recorded by
// pkg/report/testdata/record.sh, for the tests of report and of the
// packages that consume reports (delta, review).
package reporttest

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/balcony-dev/balcony/pkg/report"
)

// Hosts are the recorded hosts, sorted.
var Hosts = []string{"fozzie.example.com", "statler.example.com", "waldorf.example.com"}

// Dir returns the directory holding the recorded reports.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "testdata")
}

// Options returns the parse options of the run of revision rev on host: its
// checkout directory and its host root, as record.sh laid them out.
func Options(tb testing.TB, rev, host string) report.ParseOptions {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join(Dir(), "record.json"))
	if err != nil {
		tb.Fatalf("read record.json: %v", err)
	}
	var rec struct {
		Tmp string `json:"tmp"`
	}
	if err := json.Unmarshal(data, &rec); err != nil {
		tb.Fatalf("decode record.json: %v", err)
	}
	return report.ParseOptions{
		CodeDir:  filepath.Join(rec.Tmp, "code", rev),
		HostRoot: filepath.Join(rec.Tmp, "hosts", host),
	}
}

var cache sync.Map // rev.host -> *report.Report

// Load returns the normalized report of revision rev on host: the parsed
// <rev>.<host>.yaml or, for a run that wrote no report (a compile error),
// the Failure built from <rev>.<host>.stderr, as the agent builds it.
// Reports are parsed once per test binary and shared: callers must not
// modify them (which also checks that the code under test does not).
func Load(tb testing.TB, rev, host string) *report.Report {
	tb.Helper()
	if r, ok := cache.Load(rev + "." + host); ok {
		return r.(*report.Report)
	}
	r := load(tb, rev, host)
	cache.Store(rev+"."+host, r)
	return r
}

func load(tb testing.TB, rev, host string) *report.Report {
	tb.Helper()
	opts := Options(tb, rev, host)
	base := filepath.Join(Dir(), rev+"."+host)
	data, err := os.ReadFile(base + ".yaml")
	if errors.Is(err, fs.ErrNotExist) {
		stderr, err := os.ReadFile(base + ".stderr")
		if err != nil {
			tb.Fatalf("no report and no stderr for %s on %s: %v", rev, host, err)
		}
		return opts.Failure(host, strings.Split(string(stderr), "\n")...)
	}
	if err != nil {
		tb.Fatalf("read report: %v", err)
	}
	r, err := report.Parse(data, opts)
	if err != nil {
		tb.Fatalf("parse %s: %v", base, err)
	}
	return r
}
