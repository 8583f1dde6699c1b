package approver

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go"

	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/owners"
)

// ErrNoRecord is wrapped by the Client when the approver has nothing on
// the revision: no noop of it, or one not finished.
var ErrNoRecord = errors.New("no approval state")

// Client talks to a running approver over NATS: what the CLI, chat
// bridges and tools use.
type Client struct{ NC *nats.Conn }

// Status returns the approval state of rev.
func (c Client) Status(ctx context.Context, rev string) (*StatusReply, error) {
	var r StatusReply
	if err := c.call(ctx, StatusSubject, StatusRequest{Revision: rev}, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// Approve approves, as identity, the groups of rev as status shows them:
// all of them, or those of onlyGroups. It fails when the noop of rev has
// not finished (there is nothing to bind the approval to yet), and with
// owners.ErrInvalidLogin when identity is not a valid login.
func (c Client) Approve(ctx context.Context, rev, identity, source string, onlyGroups []string) (*ChangeReply, error) {
	if err := owners.ValidLogin(identity); err != nil {
		return nil, err
	}
	st, err := c.Status(ctx, rev)
	if err != nil {
		return nil, err
	}
	if !st.Ready {
		return nil, fmt.Errorf("%w: %s; approve once it is ready", ErrNotReady, rev)
	}
	groups := map[string]string{}
	for _, g := range st.Groups {
		groups[g.ID] = g.Digest
	}
	if len(onlyGroups) > 0 {
		picked := map[string]string{}
		for _, id := range onlyGroups {
			d, ok := groups[id]
			if !ok {
				return nil, fmt.Errorf("commit %s has no group %s", st.Commit.SHA, id)
			}
			picked[id] = d
		}
		groups = picked
	}
	if len(groups) == 0 {
		r := &ChangeReply{Commit: st.Commit.SHA, Approved: st.Approved, Message: "the commit has no changes to sign off: it is approved by itself"}
		if !st.Approved {
			r.Message = "the commit has no change groups to approve, but it is not approved: " + strings.Join(st.Status.HeldBack, "; ")
		}
		return r, nil
	}
	var r ChangeReply
	err = c.call(ctx, ApprovePrefix+owners.Normalize(identity), ApproveRequest{Revision: st.Commit.SHA, Source: source, Groups: groups}, &r)
	return &r, err
}

// ApproveSeen approves, as identity, the groups of the commit sha (a full
// sha) with the digests a review showed the approver: a group whose
// content changed since is not approved by it (its approval lapses). Not
// one group: an error.
func (c Client) ApproveSeen(ctx context.Context, sha, identity, source string, seen map[string]string) (*ChangeReply, error) {
	if err := owners.ValidLogin(identity); err != nil {
		return nil, err
	}
	if len(seen) == 0 {
		return nil, errors.New("no change group to approve")
	}
	var r ChangeReply
	err := c.call(ctx, ApprovePrefix+owners.Normalize(identity), ApproveRequest{Revision: sha, Source: source, Groups: seen}, &r)
	return &r, err
}

// Revoke withdraws identity's approvals of rev. It fails with
// owners.ErrInvalidLogin when identity is not a valid login.
func (c Client) Revoke(ctx context.Context, rev, identity string) (*ChangeReply, error) {
	if err := owners.ValidLogin(identity); err != nil {
		return nil, err
	}
	var r ChangeReply
	err := c.call(ctx, RevokePrefix+owners.Normalize(identity), RevokeRequest{Revision: rev}, &r)
	return &r, err
}

func (c Client) call(ctx context.Context, subject string, req, reply any) error {
	err := bus.CallJSON(ctx, c.NC, "approver", subject, req, reply)
	var se *bus.ServiceError
	if errors.As(err, &se) && se.Code == "404" {
		return fmt.Errorf("approver: %w: %s", ErrNoRecord, se.Description)
	}
	return err
}
