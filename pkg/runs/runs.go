// Package runs is the machinery every service that asks hosts to run
// Puppet shares: the nooper asks for noops with it, the applier for
// applies. A Need is one run a service waits for, with every attempt it
// asked (so that a late answer to an earlier attempt still counts, and
// nothing else does); an Asker publishes the next attempt with its
// deadline; CheckResult and Need.Asked decide whether a result read from
// REPORTS answers anything at all.
package runs

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/rs/zerolog"

	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/protocol"
)

// Need is one run a service waits for: a host's run of a revision. It is
// stored in the asking service's records (explicit field names).
type Need struct {
	Host     string `msgpack:"host" json:"host"`
	Revision string `msgpack:"revision" json:"revision"`
	// RunID is the last run asked for it; empty when a stored report was
	// reused.
	RunID string `msgpack:"run_id" json:"run_id,omitempty"`
	// Runs are every run asked for it, oldest first: a report answers the
	// need only when it answers one of them (a late answer to an earlier
	// attempt is as good as one to the last). Kept with the need, so that
	// a restarted service still knows what it asked.
	Runs     []string  `msgpack:"runs" json:"runs,omitempty"`
	Attempts int       `msgpack:"attempts" json:"attempts"`
	Deadline time.Time `msgpack:"deadline" json:"deadline"`
	Answered bool      `msgpack:"answered" json:"answered"`
	// Failed is set when the answer is a failed run (a compile error).
	Failed bool `msgpack:"failed" json:"failed,omitempty"`
}

// Asked tells whether run id is one asked for the need. RunID counts for
// records stored before Runs was kept.
func (n *Need) Asked(id string) bool {
	return id != "" && (id == n.RunID || slices.Contains(n.Runs, id))
}

// Due tells whether the need must be asked (again) at now: never asked,
// or its last run's deadline passed with attempts left.
func (n *Need) Due(now time.Time, maxAttempts int) bool {
	if n.Answered || n.Attempts >= maxAttempts {
		return false
	}
	return n.Attempts == 0 || !now.Before(n.Deadline)
}

// Exhausted tells whether nothing more can come of the need: unanswered,
// every attempt asked and the last one past its deadline.
func (n *Need) Exhausted(now time.Time, maxAttempts int) bool {
	return !n.Answered && n.Attempts >= maxAttempts && !now.Before(n.Deadline)
}

// RunID is the id of attempt of a run of kind at rev on host; tag, unique
// to the asking record, makes it unguessable before it is asked and never a
// duplicate of another record's run in the server's duplicate window.
func RunID(kind, rev, host string, attempt int, tag string) string {
	id := fmt.Sprintf("%s:%s:%s:%d", kind, rev, host, attempt)
	if tag != "" {
		id += ":" + tag
	}
	return id
}

// Asker publishes runs of one kind.
type Asker struct {
	Conn *bus.Conn
	// Kind is protocol.KindNoop or KindApply.
	Kind string
	// RequestedBy names the asking service in each request.
	RequestedBy string
	// Timeout is how long a host has to answer one attempt.
	Timeout time.Duration
	Log     zerolog.Logger
	// Metrics, when set, count the runs asked, answered and expired.
	Metrics *Metrics
}

// Answered counts an answer with outcome taken for a run the Asker's
// service asked.
func (a Asker) Answered(outcome string) { a.Metrics.Answered(a.Kind, outcome) }

// Expired counts a run asked whose deadline passed unanswered, when the
// service gives up on it (Request counts those it asks again).
func (a Asker) Expired() { a.Metrics.Expired(a.Kind) }

// Ask publishes the need's next attempt with a deadline Timeout after now,
// and records it in need. fill, when set, completes the request (an
// apply's range). The run id is RunID(Kind, rev, host, attempt, tag): a
// request published again with the same id (by a service that died
// before recording it) is dropped by the server's duplicate window, and
// the stored run stands.
func (a Asker) Ask(ctx context.Context, need *Need, tag string, now time.Time, fill func(*protocol.RunRequest)) (protocol.RunRequest, error) {
	before := *need
	req := a.Request(need, tag, now, fill)
	if err := a.Publish(ctx, req); err != nil {
		Undo(need, before, req.ID)
		return req, err
	}
	return req, nil
}

// Request builds the need's next attempt, as Ask does, and records it in
// need without publishing it: a service asking many hosts at once records
// every attempt under its lock, so that an answer arriving at once is
// known for one, publishes them together outside it (PublishAll), and
// takes back with Undo those that failed.
func (a Asker) Request(need *Need, tag string, now time.Time, fill func(*protocol.RunRequest)) protocol.RunRequest {
	attempt := need.Attempts + 1
	req := protocol.RunRequest{
		Schema:      protocol.SchemaVersion,
		ID:          RunID(a.Kind, need.Revision, need.Host, attempt, tag),
		Kind:        a.Kind,
		Host:        need.Host,
		Revision:    need.Revision,
		Deadline:    now.Add(a.Timeout),
		RequestedBy: a.RequestedBy,
		Time:        now,
	}
	if fill != nil {
		fill(&req)
	}
	if attempt > 1 {
		a.Metrics.Expired(a.Kind)
		a.Log.Info().Str("host", need.Host).Str("revision", need.Revision).Int("attempt", attempt).Msg("host did not answer in time; asking again")
	}
	need.RunID, need.Attempts, need.Deadline = req.ID, attempt, req.Deadline
	need.Runs = append(need.Runs, req.ID)
	return req
}

// Undo takes back the attempt run recorded in need (by Request) when it
// could not be published, restoring the attempt count, run and deadline
// of before: the need is due again, and no attempt is spent on a request
// no host received. An answer recorded since (to an earlier attempt)
// stays.
func Undo(need *Need, before Need, run string) {
	if need.RunID != run {
		return // asked again since: nothing of this attempt to take back
	}
	need.RunID, need.Attempts, need.Deadline = before.RunID, before.Attempts, before.Deadline
	need.Runs = slices.DeleteFunc(need.Runs, func(id string) bool { return id == run })
}

// PublishAll publishes reqs together, with a bounded number of
// acknowledgements in flight (bus.PublishAll): a fan-out to thousands of
// hosts costs about one synced write each, not one round trip each. It
// returns nil when every request was stored, else one error per request
// (nil for those stored).
func (a Asker) PublishAll(ctx context.Context, reqs []protocol.RunRequest) []error {
	errs := make([]error, len(reqs))
	msgs := make([]bus.Outgoing, 0, len(reqs))
	index := make([]int, 0, len(reqs)) // msgs[j] is reqs[index[j]]
	failed := false
	for i, req := range reqs {
		subject, err := bus.RunSubject(req.Kind, req.Host)
		if err != nil {
			errs[i], failed = err, true
			continue
		}
		msgs = append(msgs, bus.Outgoing{Subject: subject, MsgID: req.ID, Value: req})
		index = append(index, i)
	}
	stored := len(msgs)
	for j, err := range a.Conn.PublishAll(ctx, msgs, 0) { // nil: all stored
		if err != nil {
			stored--
			req := reqs[index[j]]
			errs[index[j]], failed = fmt.Errorf("ask %s for a %s of %s: %w", req.Host, req.Kind, protocol.Short(req.Revision), err), true
		}
	}
	a.Metrics.Asked(a.Kind, stored)
	if !failed {
		return nil
	}
	return errs
}

// Publish publishes req, built by the caller, on its host's run subject
// with its id as message id.
func (a Asker) Publish(ctx context.Context, req protocol.RunRequest) error {
	subject, err := bus.RunSubject(req.Kind, req.Host)
	if err != nil {
		return err
	}
	ack, err := a.Conn.Publish(ctx, subject, req.ID, req)
	if err != nil {
		return fmt.Errorf("ask %s for a %s of %s: %w", req.Host, req.Kind, protocol.Short(req.Revision), err)
	}
	if ack.Duplicate {
		// The id was used within the duplicate window (by a service that
		// died before recording it, say): the stored run stands.
		a.Log.Debug().Str("run", req.ID).Msg("run already requested")
		return nil
	}
	a.Metrics.Asked(a.Kind, 1)
	return nil
}

// CheckResult checks that r, read from subject, is a well-formed answer
// of kind: on its host's report subject, for a full revision, with a
// report unless it expired. It returns the host. An error wraps
// bus.ErrMalformed: the result is rejected with its reason.
func CheckResult(kind, subject string, r *protocol.RunResult) (string, error) {
	k, host, err := bus.SplitKindHost(bus.ReportPrefix, subject)
	if err != nil {
		return "", fmt.Errorf("%w: %v", bus.ErrMalformed, err)
	}
	if r.Host != host || r.Kind != k || k != kind || !protocol.ValidSHA(r.Revision) || r.Report == nil && r.Outcome != protocol.OutcomeExpired {
		return "", fmt.Errorf("%w: report %q for host %q revision %q on %s", bus.ErrMalformed, r.RunID, r.Host, r.Revision, subject)
	}
	return host, nil
}
