package agent

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/balcony-dev/balcony/pkg/protocol"
	"github.com/balcony-dev/balcony/pkg/puppet"
	"github.com/balcony-dev/balcony/pkg/report"
)

// Checkouts gives a clean directory holding the code at a revision.
type Checkouts interface {
	Checkout(ctx context.Context, rev string) (string, error)
}

// PuppetRunner runs Puppet on a code directory.
type PuppetRunner interface {
	Run(ctx context.Context, codeDir string, noop bool) (*puppet.Result, error)
}

// PuppetExecutor executes runs with real Puppet on checkouts of the code.
type PuppetExecutor struct {
	Host      string
	Checkouts Checkouts
	Puppet    PuppetRunner
	// Code updates the local copy of the code when a revision is
	// unknown, before giving up; nil: no update.
	Code CodeSource
	// Root is a simulated host's root directory, removed from the paths
	// of its reports (see report.StripRoot); empty on real hosts.
	Root string
	Now  func() time.Time
}

// Execute checks the revision out, runs Puppet and parses its report. A
// compile error, a timeout or an unknown revision is a failed result with
// the error text, never an error of Execute.
func (e *PuppetExecutor) Execute(ctx context.Context, req protocol.RunRequest) *protocol.RunResult {
	now := time.Now
	if e.Now != nil {
		now = e.Now
	}
	res := &protocol.RunResult{
		Schema: protocol.SchemaVersion, RunID: req.ID, Kind: req.Kind, Host: e.Host,
		Revision: req.Revision, StartedAt: now().UTC(),
	}
	rep, parse, err := e.run(ctx, req, res)
	res.FinishedAt = now().UTC()
	var noReport *noReportError
	switch {
	case errors.As(err, &noReport):
		res.Outcome = protocol.OutcomeFailed
		res.Report = parse.Failure(e.Host, noReport.errs...)
		res.Report.Seconds = noReport.seconds
	case err != nil:
		res.Outcome = protocol.OutcomeFailed
		res.Report = parse.Failure(e.Host, err.Error())
	default:
		res.Outcome = protocol.OutcomeDone
		res.Report = rep
	}
	if res.Report.Time.IsZero() {
		res.Report.Time = res.FinishedAt
	}
	return res
}

// noReportError is a Puppet run that wrote no report: the catalog did not
// compile. Its errors are Puppet's own words.
type noReportError struct {
	errs    []string
	seconds float64
}

func (e *noReportError) Error() string { return strings.Join(e.errs, "; ") }

// run returns the parsed report, and the parse options also used to
// normalize the errors of a run that produced none.
func (e *PuppetExecutor) run(ctx context.Context, req protocol.RunRequest, res *protocol.RunResult) (*report.Report, report.ParseOptions, error) {
	parse := report.ParseOptions{HostRoot: e.Root}
	dir, err := e.Checkouts.Checkout(ctx, req.Revision)
	if err != nil && e.Code != nil && ctx.Err() == nil {
		if ferr := e.Code.Update(ctx, req.Revision); ferr != nil {
			return nil, parse, fmt.Errorf("check out %s: %w (fetch: %v)", req.Revision, err, ferr)
		}
		dir, err = e.Checkouts.Checkout(ctx, req.Revision)
	}
	if err != nil {
		return nil, parse, fmt.Errorf("check out %s: %w", req.Revision, err)
	}
	parse.CodeDir = dir
	out, err := e.Puppet.Run(ctx, dir, req.Kind == protocol.KindNoop)
	if out != nil {
		res.PuppetSeconds = out.Duration.Seconds()
	}
	if err != nil {
		if errors.Is(err, puppet.ErrTimeout) {
			return nil, parse, err
		}
		return nil, parse, fmt.Errorf("puppet on %s: %w", req.Revision, err)
	}
	if len(out.ReportYAML) == 0 {
		// Puppet writes no report when the catalog does not compile.
		errs := puppet.ErrorLines(out.Stderr + "\n" + out.Stdout)
		if len(errs) == 0 {
			errs = []string{fmt.Sprintf("puppet exited %d without a report", out.ExitCode)}
		}
		return nil, parse, &noReportError{errs: errs, seconds: out.Duration.Seconds()}
	}
	rep, err := report.Parse(out.ReportYAML, parse)
	if err != nil {
		return nil, parse, fmt.Errorf("parse puppet's report: %w", err)
	}
	if len(out.CatalogJSON) > 0 {
		if err := rep.AddNewFileContents(out.CatalogJSON, parse); err != nil {
			return nil, parse, err
		}
		// Puppet forced them to noop; the review says they asked not to be.
		if req.Kind == protocol.KindNoop {
			if err := rep.MarkNoopFalse(out.CatalogJSON, parse); err != nil {
				return nil, parse, err
			}
		}
	}
	return rep, parse, nil
}
