package agent

import (
	"fmt"

	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/protocol"
	"github.com/balcony-dev/balcony/pkg/report"
)

// oversizedErrors is how many of the run's own errors an oversized
// answer keeps.
const oversizedErrors = 5

// oversized is the answer to a run whose result is too large to publish:
// a failed result that says so, with the counts and first errors of the
// report it replaces. Running Puppet again would only make the same
// report, so this answer is published instead, once.
func oversized(res *protocol.RunResult, e *bus.SizeError) *protocol.RunResult {
	out := *res
	out.Outcome = protocol.OutcomeFailed
	msg := fmt.Sprintf("the run's report was %d bytes, %d bytes over the bus's limit of %d bytes, and could not be sent", e.Size, e.Size-e.Limit, e.Limit)
	var errs []string
	rep := res.Report
	if rep != nil {
		msg += fmt.Sprintf(" (Puppet status %s, %d resources with changes or failures, %d errors)", orNone(rep.PuppetStatus), len(rep.Resources), len(rep.Errors))
		errs = rep.Errors[:min(len(rep.Errors), oversizedErrors)]
	}
	out.Report = report.Failure(res.Host, append([]string{msg}, cutErrors(errs)...)...)
	if rep != nil {
		out.Report.PuppetVersion, out.Report.Noop, out.Report.Time, out.Report.Seconds = rep.PuppetVersion, rep.Noop, rep.Time, rep.Seconds
	}
	return &out
}

// cutErrors cuts each error as a failed run's log line does.
func cutErrors(errs []string) []string {
	out := make([]string, 0, len(errs))
	for _, e := range errs {
		out = append(out, failureReason([]string{e}))
	}
	return out
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
