package runs_test

import (
	"errors"
	"testing"
	"time"

	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/protocol"
	"github.com/balcony-dev/balcony/pkg/report"
	"github.com/balcony-dev/balcony/pkg/runs"
)

var t0 = time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC)

func TestNeedDueAndExhausted(t *testing.T) {
	const max = 2
	tests := []struct {
		name           string
		need           runs.Need
		now            time.Time
		due, exhausted bool
	}{
		{"never asked", runs.Need{}, t0, true, false},
		{"asked, deadline ahead", runs.Need{Attempts: 1, Deadline: t0.Add(time.Minute)}, t0, false, false},
		{"asked, deadline reached", runs.Need{Attempts: 1, Deadline: t0}, t0, true, false},
		{"last attempt, deadline ahead", runs.Need{Attempts: 2, Deadline: t0.Add(time.Minute)}, t0, false, false},
		{"last attempt, deadline passed", runs.Need{Attempts: 2, Deadline: t0.Add(-time.Minute)}, t0, false, true},
		{"answered", runs.Need{Attempts: 2, Deadline: t0.Add(-time.Minute), Answered: true}, t0, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.need.Due(tt.now, max); got != tt.due {
				t.Errorf("Due = %v, want %v", got, tt.due)
			}
			if got := tt.need.Exhausted(tt.now, max); got != tt.exhausted {
				t.Errorf("Exhausted = %v, want %v", got, tt.exhausted)
			}
		})
	}
}

func TestNeedAsked(t *testing.T) {
	n := runs.Need{RunID: "noop:x:h:2:t", Runs: []string{"noop:x:h:1:t", "noop:x:h:2:t"}}
	for id, want := range map[string]bool{"noop:x:h:1:t": true, "noop:x:h:2:t": true, "noop:x:h:3:t": false, "": false} {
		if got := n.Asked(id); got != want {
			t.Errorf("Asked(%q) = %v, want %v", id, got, want)
		}
	}
	if got := runs.RunID(protocol.KindApply, "abc", "h.example.com", 1, "t9"); got != "apply:abc:h.example.com:1:t9" {
		t.Errorf("RunID = %q", got)
	}
}

func TestCheckResult(t *testing.T) {
	sha := "0123456789abcdef0123456789abcdef01234567"
	good := protocol.RunResult{RunID: "r", Kind: protocol.KindApply, Host: "h.example.com", Revision: sha, Outcome: protocol.OutcomeDone, Report: &report.Report{}}
	tests := []struct {
		name    string
		kind    string
		subject string
		change  func(*protocol.RunResult)
		ok      bool
	}{
		{"good", protocol.KindApply, "balcony.report.apply.h.example.com", nil, true},
		{"another host's subject", protocol.KindApply, "balcony.report.apply.g.example.com", nil, false},
		{"another kind's subject", protocol.KindApply, "balcony.report.noop.h.example.com", nil, false},
		{"not the kind asked", protocol.KindNoop, "balcony.report.apply.h.example.com", nil, false},
		{"short revision", protocol.KindApply, "balcony.report.apply.h.example.com", func(r *protocol.RunResult) { r.Revision = "0123" }, false},
		{"no report", protocol.KindApply, "balcony.report.apply.h.example.com", func(r *protocol.RunResult) { r.Report = nil }, false},
		{"expired without a report", protocol.KindApply, "balcony.report.apply.h.example.com", func(r *protocol.RunResult) { r.Report, r.Outcome = nil, protocol.OutcomeExpired }, true},
		{"bad subject", protocol.KindApply, "balcony.report", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := good
			if tt.change != nil {
				tt.change(&r)
			}
			host, err := runs.CheckResult(tt.kind, tt.subject, &r)
			if tt.ok != (err == nil) {
				t.Fatalf("CheckResult: %v, want ok=%v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, bus.ErrMalformed) {
				t.Errorf("error %v does not wrap bus.ErrMalformed: it would be retried, not rejected", err)
			}
			if err == nil && host != "h.example.com" {
				t.Errorf("host = %q", host)
			}
		})
	}
}

// TestRequestAndUndo: a request is recorded in the need before it is
// published; taking it back restores the need as it was, keeping an
// answer that came meanwhile, and leaves a need asked again since alone.
func TestRequestAndUndo(t *testing.T) {
	a := runs.Asker{Kind: protocol.KindNoop, RequestedBy: "nooper", Timeout: time.Minute}
	need := runs.Need{Host: "h.example.com", Revision: "abc"}
	before := need
	req := a.Request(&need, "t1", t0, nil)
	if req.ID != "noop:abc:h.example.com:1:t1" || need.RunID != req.ID || need.Attempts != 1 || !need.Deadline.Equal(t0.Add(time.Minute)) || !need.Asked(req.ID) {
		t.Fatalf("request %+v recorded as %+v", req, need)
	}
	need.Answered = true // an answer to an earlier attempt, meanwhile
	runs.Undo(&need, before, req.ID)
	if need.RunID != "" || need.Attempts != 0 || !need.Deadline.IsZero() || len(need.Runs) != 0 || !need.Answered {
		t.Errorf("after undo: %+v, want the need as before, answered", need)
	}
	first := need
	second := a.Request(&need, "t1", t0, nil)
	runs.Undo(&need, first, "noop:abc:h.example.com:7:t1") // not its last run
	if need.RunID != second.ID || need.Attempts != 1 {
		t.Errorf("undo of another run changed the need: %+v", need)
	}
}
