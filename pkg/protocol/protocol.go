// Package protocol defines the messages balcony's services exchange on the
// bus. COMMITS, RUNS and REPORTS carry these types encoded as msgpack with a
// schema version; EVENTS carry Event as JSON. Changing a field's meaning
// means raising SchemaVersion.
package protocol

import (
	"time"

	"github.com/balcony-dev/balcony/pkg/report"
)

// ValidSHA tells whether s is a full git object name: 40 (SHA-1) or 64
// (SHA-256) lower-case hex digits. Revisions on the bus are always full.
func ValidSHA(s string) bool {
	if len(s) != 40 && len(s) != 64 {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// Short abbreviates a sha to 12 characters for logs and one-line texts.
func Short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}

// SchemaVersion is the version of the msgpack payloads written by this code.
// Readers reject payloads with another version, with a reason.
const SchemaVersion = 1

// Run kinds.
const (
	KindNoop  = "noop"
	KindApply = "apply"
)

// Commit is one commit of a push.
type Commit struct {
	SHA         string    `msgpack:"sha" json:"sha"`
	Parents     []string  `msgpack:"parents" json:"parents"`
	Author      string    `msgpack:"author" json:"author"`
	AuthorEmail string    `msgpack:"author_email" json:"author_email"`
	Time        time.Time `msgpack:"time" json:"time"`
	Subject     string    `msgpack:"subject" json:"subject"`
	// Message is the whole commit message; trailers such as
	// Co-authored-by are read from it.
	Message string `msgpack:"message" json:"message"`
}

// CommitEvent is one updated branch of one push, published on
// balcony.commit.<repo>.
type CommitEvent struct {
	Schema int    `msgpack:"schema" json:"schema"`
	Repo   string `msgpack:"repo" json:"repo"`
	Ref    string `msgpack:"ref" json:"ref"`
	Branch string `msgpack:"branch" json:"branch"`
	// Old is the branch's previous tip, empty for a new branch.
	Old string `msgpack:"old" json:"old"`
	New string `msgpack:"new" json:"new"`
	// Commits are the commits reachable from New and not from Old (nor
	// from the branch's last published tip), parents before children.
	Commits []Commit  `msgpack:"commits" json:"commits"`
	Source  string    `msgpack:"source" json:"source"` // hook, webhook, watch
	Time    time.Time `msgpack:"time" json:"time"`
}

// RunRequest asks one host to run Puppet at one revision, published on
// balcony.run.<kind>.<host> with Nats-Msg-Id set to ID.
type RunRequest struct {
	Schema   int       `msgpack:"schema" json:"schema"`
	ID       string    `msgpack:"id" json:"id"`
	Kind     string    `msgpack:"kind" json:"kind"`
	Host     string    `msgpack:"host" json:"host"`
	Revision string    `msgpack:"revision" json:"revision"`
	Deadline time.Time `msgpack:"deadline" json:"deadline"`
	// RequestedBy names the service that asked (nooper, applier).
	RequestedBy string    `msgpack:"requested_by" json:"requested_by"`
	Time        time.Time `msgpack:"time" json:"time"`
	// From is, for an apply, the host's last applied revision: the run
	// applies the commits after it up to Revision.
	From string `msgpack:"from" json:"from,omitempty"`
	// Approved is, for an apply, every commit after From up to Revision,
	// oldest first, with the digests of its change groups as the applier
	// saw them approved. The agent applies only when the approver still
	// says so for each, with the same digests.
	Approved []ApprovedCommit `msgpack:"approved" json:"approved,omitempty"`
}

// ApprovedCommit is one commit of an apply's range as it was approved.
type ApprovedCommit struct {
	SHA string `msgpack:"sha" json:"sha"`
	// Groups maps each change group of the commit's noop to its digest
	// (owners.GroupDigest), the content an approval binds to.
	Groups map[string]string `msgpack:"groups" json:"groups"`
}

// Expired tells whether the run's deadline has passed at now.
func (r RunRequest) Expired(now time.Time) bool {
	return !r.Deadline.IsZero() && now.After(r.Deadline)
}

// Run outcomes.
const (
	// OutcomeDone: Puppet ran and produced a report (which may still show
	// failed resources).
	OutcomeDone = "done"
	// OutcomeFailed: the run could not produce a Puppet report: a compile
	// error, a timeout, an unknown revision. Report.Errors says why.
	OutcomeFailed = "failed"
	// OutcomeExpired: the run arrived after its deadline and was not run.
	OutcomeExpired = "expired"
	// OutcomeSkipped: an apply the host did not run because its own
	// Puppet is disabled (puppet agent --disable) or running.
	// Report.Errors says which.
	OutcomeSkipped = "skipped"
	// OutcomeRefused: an apply the agent refused: a commit of its range
	// not approved (or approved for other content), or a range that is
	// not the first-parent chain from the host's last applied revision.
	// Report.Errors says why.
	OutcomeRefused = "refused"
)

// RunResult is a host's answer to a RunRequest, published on
// balcony.report.<kind>.<host> with Nats-Msg-Id set to the run ID.
type RunResult struct {
	Schema   int    `msgpack:"schema" json:"schema"`
	RunID    string `msgpack:"run_id" json:"run_id"`
	Kind     string `msgpack:"kind" json:"kind"`
	Host     string `msgpack:"host" json:"host"`
	Revision string `msgpack:"revision" json:"revision"`
	Outcome  string `msgpack:"outcome" json:"outcome"`
	// Report is the normalized report; for a failed outcome it is a report
	// with Failed set and the error text in Errors.
	Report     *report.Report `msgpack:"report" json:"report"`
	StartedAt  time.Time      `msgpack:"started_at" json:"started_at"`
	FinishedAt time.Time      `msgpack:"finished_at" json:"finished_at"`
	// PuppetSeconds is the wall time of the Puppet processes (a noop's
	// compile and apply), start-up and compilation included (the report's
	// own metrics leave those out).
	PuppetSeconds float64 `msgpack:"puppet_seconds" json:"puppet_seconds"`
}

// HostInfo is a host's record in the hosts bucket, refreshed by its agent's
// heartbeat.
type HostInfo struct {
	Schema  int       `msgpack:"schema" json:"schema"`
	Host    string    `msgpack:"host" json:"host"`
	Version string    `msgpack:"version" json:"version"`
	Started time.Time `msgpack:"started" json:"started"`
	Seen    time.Time `msgpack:"seen" json:"seen"`
	// LastApplied is the revision of the last successful apply, if known.
	// It, AppliedAt and AppliedRun are written by the applier only (or
	// `applier baseline`), and every writer of the record uses
	// compare-and-set (UpdateHostInfo): a heartbeat never undoes them.
	LastApplied string `msgpack:"last_applied" json:"last_applied,omitempty"`
	// AppliedAt is when LastApplied was recorded; AppliedRun the apply
	// run that brought it, empty for a baseline.
	AppliedAt  time.Time `msgpack:"applied_at" json:"applied_at,omitzero"`
	AppliedRun string    `msgpack:"applied_run" json:"applied_run,omitempty"`
	// Busy is the run ID in progress, if any.
	Busy string `msgpack:"busy" json:"busy,omitempty"`
	// PuppetDisabled is the message of `puppet agent --disable` while
	// the host's own Puppet is disabled ("disabled" when it gave none);
	// the applier skips such a host.
	PuppetDisabled string `msgpack:"puppet_disabled" json:"puppet_disabled,omitempty"`
}

// Event is a human-readable announcement on balcony.event.>, encoded as
// JSON. Text is one line meant for chat; the other fields are for tools.
type Event struct {
	Type    string    `json:"type"`
	Text    string    `json:"text"`
	Time    time.Time `json:"time"`
	Repo    string    `json:"repo,omitempty"`
	Commit  string    `json:"commit,omitempty"`
	Host    string    `json:"host,omitempty"`
	Service string    `json:"service,omitempty"`
	// Data carries the event's details: counts, group ids, reasons.
	Data map[string]any `json:"data,omitempty"`
}

// GitHubComment is an issue comment from a verified GitHub webhook
// delivery, published on balcony.github.comment with Nats-Msg-Id
// github-comment:<id>:<action>. The approver reads approvals from it.
type GitHubComment struct {
	Schema int `msgpack:"schema" json:"schema"`
	// Repo is the repository's full name (owner/name).
	Repo      string    `msgpack:"repo" json:"repo"`
	Issue     int       `msgpack:"issue" json:"issue"`
	IssueBody string    `msgpack:"issue_body" json:"issue_body"`
	CommentID int64     `msgpack:"comment_id" json:"comment_id"`
	Action    string    `msgpack:"action" json:"action"` // created, edited, deleted
	Login     string    `msgpack:"login" json:"login"`
	Body      string    `msgpack:"body" json:"body"`
	Time      time.Time `msgpack:"time" json:"time"`
}
