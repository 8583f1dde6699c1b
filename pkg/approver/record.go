package approver

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/github"
	"github.com/balcony-dev/balcony/pkg/owners"
	"github.com/balcony-dev/balcony/pkg/protocol"
)

// Record is the approval state of one commit, kept in the approvals bucket
// under its sha.
type Record struct {
	Schema int             `msgpack:"schema" json:"-"`
	Repo   string          `msgpack:"repo" json:"repo"`
	Branch string          `msgpack:"branch" json:"branch"`
	Commit protocol.Commit `msgpack:"commit" json:"commit"`
	// NoopDigest is the digest of the delta the status was computed on;
	// empty while the commit's noop has not finished.
	NoopDigest string `msgpack:"noop_digest" json:"noop_digest,omitempty"`
	// Approvals are every approval given, counted or not, newest last.
	Approvals []owners.Approval `msgpack:"approvals" json:"approvals"`
	Status    owners.Status     `msgpack:"status" json:"status"`
	// Announced holds the ids of the events already announced, so that a
	// re-evaluation or a restart never announces the same thing twice.
	Announced map[string]bool `msgpack:"announced" json:"-"`
	// Pending are the announcements of Announced that the server has not
	// acknowledged yet, by key, with the message id they are published
	// with. The record is saved before they are published: if the
	// approver stops in between, the next evaluation of the commit (the
	// noop.ready redelivered, an approval, the start-up sweep) publishes
	// them again under the same id, which the server's duplicate window
	// drops if the first publish got through.
	Pending map[string]string `msgpack:"pending" json:"-"`
	// GitHub is the commit's review issue; GitHubSynced the digest of what
	// it shows, empty when it must be updated.
	GitHub       github.IssueState `msgpack:"github" json:"github,omitempty"`
	GitHubSynced string            `msgpack:"github_synced" json:"-"`
	// GitHubReview is the digest of the review the issue shows, and
	// GitHubCommentsBefore the newest comment id when it was first shown:
	// comments up to it approved something else.
	GitHubReview         string `msgpack:"github_review" json:"-"`
	GitHubCommentsBefore int64  `msgpack:"github_comments_before" json:"-"`
	// SeenComments are the GitHub comments already read for approvals.
	SeenComments map[int64]bool `msgpack:"seen_comments" json:"-"`
}

type store struct{ kv jetstream.KeyValue }

// errConflict is wrapped by store.save when the record changed since it
// was read: another evaluation of the commit saved first.
var errConflict = errors.New("the approvals record changed since it was read")

// get returns sha's record and its revision: nil and 0 when there is
// none.
func (s store) get(ctx context.Context, sha string) (*Record, uint64, error) {
	e, err := s.kv.Get(ctx, sha)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("read approvals of %s: %w", sha, err)
	}
	var r Record
	if err := bus.Unmarshal(e.Value(), &r); err != nil {
		return nil, 0, fmt.Errorf("stored approvals of %s are unreadable: %v", sha, err)
	}
	return &r, e.Revision(), nil
}

// save writes r if the stored record is still at revision rev (0: there
// is none), and returns the new revision; otherwise it fails with
// errConflict, and the caller reads the record again. Two evaluations of
// one commit, in this approver or another, then never lose each other's
// approvals.
func (s store) save(ctx context.Context, r *Record, rev uint64) (uint64, error) {
	r.Schema = protocol.SchemaVersion
	data, err := bus.Marshal(r)
	if err != nil {
		return 0, err
	}
	var n uint64
	if rev == 0 {
		n, err = s.kv.Create(ctx, r.Commit.SHA, data)
	} else {
		n, err = s.kv.Update(ctx, r.Commit.SHA, data, rev)
	}
	if errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists) {
		return 0, fmt.Errorf("save approvals of %s: %w", r.Commit.SHA, errConflict)
	}
	if err != nil {
		return 0, fmt.Errorf("save approvals of %s: %w", r.Commit.SHA, err)
	}
	return n, nil
}

// maxAttempts bounds the reads and saves of one evaluation: each failed
// attempt means another evaluation of the commit saved meanwhile, which
// is progress; past it the caller fails and is retried (a noop.ready is
// redelivered, a person asks again).
const maxAttempts = 10

// modify applies change to sha's record and saves it with
// compare-and-set, reading it again on a conflict. It starts from rec at
// revision rev when given (the record as just saved), else from the
// stored one. A missing record is left missing. It is for the fields an
// evaluation does not decide (GitHub's state, what was published).
func (s store) modify(ctx context.Context, sha string, rec *Record, rev uint64, change func(*Record)) error {
	for attempt := 1; ; attempt++ {
		if rec == nil {
			var err error
			if rec, rev, err = s.get(ctx, sha); err != nil || rec == nil {
				return err
			}
		}
		change(rec)
		_, err := s.save(ctx, rec, rev)
		if !errors.Is(err, errConflict) || attempt == maxAttempts {
			return err
		}
		rec = nil
	}
}
