package applier

import (
	"context"

	"github.com/nats-io/nats.go"

	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/owners"
)

// Client talks to a running applier over NATS: what the CLI and tools
// use.
type Client struct{ NC *nats.Conn }

// Status returns the applier's state.
func (c Client) Status(ctx context.Context) (*StatusReply, error) {
	var r StatusReply
	return &r, c.call(ctx, StatusSubject, VerbRequest{}, &r)
}

// Plan returns what the applier would apply now.
func (c Client) Plan(ctx context.Context) (*PlanReply, error) {
	var r PlanReply
	return &r, c.call(ctx, PlanSubject, VerbRequest{}, &r)
}

// Do runs a control verb (halt, resume, promote, cancel, lock, unlock,
// baseline) as identity.
func (c Client) Do(ctx context.Context, verb, identity string, req VerbRequest) (*VerbReply, error) {
	if err := owners.ValidLogin(identity); err != nil {
		return nil, err
	}
	var r VerbReply
	return &r, c.call(ctx, VerbPrefix+verb+"."+owners.Normalize(identity), req, &r)
}

func (c Client) call(ctx context.Context, subject string, req, reply any) error {
	return bus.CallJSON(ctx, c.NC, "applier", subject, req, reply)
}
