// The harness test runs without the race detector (make test runs it in
// its second, plain go test): under -race it takes 15 s of the suite's
// nearly spent ten minutes. The code it drives runs under -race in the
// nooper's and approver's own tests.

//go:build !race

package fleetbench_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/balcony-dev/balcony/pkg/fleetbench"
)

// TestHarnessMeasuresEveryGoal runs the harness on 50 hosts once, with
// small deltas: every figure is measured (none missing), every fake host
// received exactly one run of each revision it was asked for, and the
// document and its plot are written. It asserts no figure's value: the
// harness reports them, and a slow machine is no failure. The budget is
// generous: it detects a hang, not slowness.
func TestHarnessMeasuresEveryGoal(t *testing.T) {
	res, err := fleetbench.Run(context.Background(), fleetbench.Config{
		Hosts: []int{50}, Runs: 1, Budget: 2 * time.Minute, Resources: 20, Groups: 20,
		TempDir: t.TempDir(), Log: zerolog.Nop(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Hosts) != 1 || res.Hosts[0].Hosts != 50 {
		t.Fatalf("results for %+v, want 50 hosts", res.Hosts)
	}
	hr := res.Hosts[0]
	if !strings.HasPrefix(hr.Once, "yes") {
		t.Errorf("every host asked once per revision: %s", hr.Once)
	}
	for _, key := range []string{
		fleetbench.FirstCollection, fleetbench.Collection, fleetbench.FanOut, fleetbench.FanOutRaw,
		fleetbench.Ingest, fleetbench.IngestRaw, fleetbench.Delta, fleetbench.DeltaAlloc,
		fleetbench.NooperMemory, fleetbench.Approver,
	} {
		f := hr.Figures[key]
		if _, ok := f.Median(); !ok || f.Missing != "" {
			t.Errorf("figure %s: %+v, want a sample and nothing missing", key, f)
		}
	}
	table := res.Table()
	for _, want := range []string{"| 50 hosts |", "commit event → delta ready", "% of raw", "yes (6 revisions asked of every host once"} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
	dir := t.TempDir()
	md, png := filepath.Join(dir, "benchmarks.md"), filepath.Join(dir, "benchmarks-fleet.png")
	if err := res.WriteDocs(md, png, fleetbench.ThisMachine("test")); err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(md)
	if err != nil || !strings.Contains(string(doc), table) || !strings.Contains(string(doc), "benchmarks-fleet.png") {
		t.Errorf("benchmarks.md (%v) lacks the table or the plot:\n%s", err, doc)
	}
	if data, err := os.ReadFile(png); err != nil || !strings.HasPrefix(string(data), "\x89PNG") {
		t.Errorf("the plot is not a PNG: %v", err)
	}
}

// TestHarnessMeasuresR3 runs only the R3 part once, at 20 and 30 hosts:
// at 20, the smallest count, a cluster of three embedded servers forms,
// balcony's streams are provisioned at 3 replicas there, the fan-out and
// ingest and raw JetStream's are measured, every host is asked once per
// revision (the fan-out's two, the first collection's two, the ingest's
// one), and the table shows the R3 rows; at 30 R3 is not measured, and
// the table says why. About 5 s: make test-fleet runs it, not make test.
func TestHarnessMeasuresR3(t *testing.T) {
	res, err := fleetbench.Run(context.Background(), fleetbench.Config{
		Hosts: []int{20, 30}, Runs: 1, Budget: 2 * time.Minute, Replicas: []int{3},
		TempDir: t.TempDir(), Log: zerolog.Nop(),
	})
	if err != nil {
		t.Fatal(err)
	}
	hr := res.Hosts[0]
	if !strings.HasPrefix(hr.OnceR3, "yes") {
		t.Errorf("every host asked once per revision at R3: %q", hr.OnceR3)
	}
	for _, key := range []string{fleetbench.FanOutR3, fleetbench.FanOutRawR3, fleetbench.IngestR3, fleetbench.IngestRawR3, fleetbench.FirstCollectionR3} {
		f := hr.Figures[key]
		if _, ok := f.Median(); !ok || f.Missing != "" {
			t.Errorf("figure %s: %+v, want a sample and nothing missing", key, f)
		}
	}
	if f := res.Hosts[1].Figures[fleetbench.FanOutR3]; f == nil || len(f.Samples) != 0 || !strings.Contains(f.Missing, "only at the smallest host count") {
		t.Errorf("fan-out at R3 at 30 hosts: %+v, want not measured, only at the smallest count", f)
	}
	table := res.Table()
	for _, want := range []string{"run fan-out at R3", "report ingest at R3", "first collection at R3", "20 hosts at R3: yes (5 revisions", "R3 only at the smallest host count, 20"} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
}
