package main

import (
	"context"

	"github.com/balcony-dev/balcony/pkg/agent"
	"github.com/balcony-dev/balcony/pkg/approver"
)

// approverStatus is the agent's view of the approver: its status service
// (balcony.approver.status), the only way into the approvals, which are
// the approver's own bucket.
type approverStatus struct{ client approver.Client }

func (s approverStatus) Approval(ctx context.Context, sha string) (*agent.Approval, error) {
	st, err := s.client.Status(ctx, sha)
	if err != nil {
		return nil, err
	}
	ap := &agent.Approval{
		SHA: st.Commit.SHA, Ready: st.Ready, Approved: st.Approved,
		Groups: make(map[string]string, len(st.Groups)), HeldBack: st.Status.HeldBack,
	}
	for _, g := range st.Groups {
		ap.Groups[g.ID] = g.Digest
	}
	return ap, nil
}
