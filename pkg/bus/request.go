package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
)

// A request its sender may not publish is never answered: the server only
// tells the client, asynchronously, that it dropped the message. Request
// turns that notice into the request's error, so that a denied verb fails
// at once saying so instead of waiting out its timeout.

// pending are the requests in flight per connection, by subject.
var pending = struct {
	sync.Mutex
	byConn map[*nats.Conn]map[*pendingRequest]struct{}
}{byConn: map[*nats.Conn]map[*pendingRequest]struct{}{}}

type pendingRequest struct {
	subject string
	cancel  context.CancelCauseFunc
}

// Request sends msg as a request on nc and waits for the reply or ctx's
// end. When the server refuses to let nc publish on msg's subject (a
// connection made by Connect hears of it), it fails at once with an error
// wrapping nats.ErrPermissionViolation.
func Request(ctx context.Context, nc *nats.Conn, msg *nats.Msg) (*nats.Msg, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	p := &pendingRequest{subject: msg.Subject, cancel: cancel}
	pending.Lock()
	if pending.byConn[nc] == nil {
		pending.byConn[nc] = map[*pendingRequest]struct{}{}
	}
	pending.byConn[nc][p] = struct{}{}
	pending.Unlock()
	defer func() {
		pending.Lock()
		delete(pending.byConn[nc], p)
		if len(pending.byConn[nc]) == 0 {
			delete(pending.byConn, nc)
		}
		pending.Unlock()
	}()
	reply, err := nc.RequestMsgWithContext(ctx, msg)
	if cause := context.Cause(ctx); err != nil && errors.Is(cause, nats.ErrPermissionViolation) {
		return nil, cause
	}
	return reply, err
}

// denied fails the requests of nc on the subject err, a permissions
// violation the server sent, names.
func denied(nc *nats.Conn, err error) {
	if !errors.Is(err, nats.ErrPermissionViolation) {
		return
	}
	pending.Lock()
	defer pending.Unlock()
	for p := range pending.byConn[nc] {
		if strings.Contains(err.Error(), fmt.Sprintf("Publish to %q", p.subject)) {
			p.cancel(fmt.Errorf("not allowed to publish on %s: %w", p.subject, err))
		}
	}
}

// ServiceError is the error a micro service answered a request with.
type ServiceError struct {
	// Service names the service for the message ("approver").
	Service string
	// Code is the micro service's error code (400, 404, 500...).
	Code        string
	Description string
}

func (e *ServiceError) Error() string { return e.Service + ": " + e.Description }

// CallJSON sends req, encoded as JSON, to the micro-service endpoint
// subject of service and decodes its JSON answer into reply. No service
// listening is an error that says so; an error answer is a *ServiceError.
func CallJSON(ctx context.Context, nc *nats.Conn, service, subject string, req, reply any) error {
	data, err := json.Marshal(req)
	if err != nil {
		return err
	}
	msg := nats.NewMsg(subject)
	msg.Data = data
	msg, err = Request(ctx, nc, msg)
	if errors.Is(err, nats.ErrNoResponders) {
		return fmt.Errorf("no %s is running (nobody answers %s)", service, subject)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", subject, err)
	}
	if code := msg.Header.Get(micro.ErrorCodeHeader); code != "" {
		return &ServiceError{Service: service, Code: code, Description: msg.Header.Get(micro.ErrorHeader)}
	}
	return json.Unmarshal(msg.Data, reply)
}
