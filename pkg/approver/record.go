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

func (s store) get(ctx context.Context, sha string) (*Record, error) {
	e, err := s.kv.Get(ctx, sha)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read approvals of %s: %w", sha, err)
	}
	var r Record
	if err := bus.Unmarshal(e.Value(), &r); err != nil {
		return nil, fmt.Errorf("stored approvals of %s are unreadable: %v", sha, err)
	}
	return &r, nil
}

func (s store) put(ctx context.Context, r *Record) error {
	r.Schema = protocol.SchemaVersion
	data, err := bus.Marshal(r)
	if err != nil {
		return err
	}
	if _, err := s.kv.Put(ctx, r.Commit.SHA, data); err != nil {
		return fmt.Errorf("save approvals of %s: %w", r.Commit.SHA, err)
	}
	return nil
}
