package approver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/delta"
	"github.com/balcony-dev/balcony/pkg/nooper"
	"github.com/balcony-dev/balcony/pkg/owners"
	"github.com/balcony-dev/balcony/pkg/protocol"
	"github.com/balcony-dev/balcony/pkg/review"
)

// Subjects of the approver's service. The identity approving or revoking
// is the last token of the subject, never a field of the payload, so NATS
// permissions decide who may speak for whom (docs/security.md).
const (
	StatusSubject  = "balcony.approver.status"
	ApprovePrefix  = "balcony.approver.approve."
	RevokePrefix   = "balcony.approver.revoke."
	identityTokens = "*"
)

// StatusRequest asks for a commit's approval state.
type StatusRequest struct {
	Revision string `json:"revision"`
}

// StatusReply is a commit's approval state, as `approver status` shows it.
type StatusReply struct {
	Commit protocol.Commit `json:"commit"`
	// Ready is false while the commit's noop has not finished.
	Ready    bool        `json:"ready"`
	Approved bool        `json:"approved"`
	Groups   []GroupView `json:"groups"`
	// Withdrawn are changes pending in the parent's noop that the
	// commit's noop no longer shows: they need no sign-off.
	Withdrawn []GroupView       `json:"withdrawn"`
	Approvals []owners.Approval `json:"approvals"`
	Status    owners.Status     `json:"status"`
	// Warnings are about where owners were read from: no node statement
	// found at the first parent (node file owners can approve nothing),
	// an environment.conf that could not be followed.
	Warnings []string `json:"warnings"`
}

// Unapproved counts the groups not approved yet and says who can approve
// the first of them.
func (r *StatusReply) Unapproved() (n int, firstMissing string) {
	for _, g := range r.Status.Groups {
		if !g.Approved {
			n++
			if firstMissing == "" {
				firstMissing = g.Missing
			}
		}
	}
	return n, firstMissing
}

// View is what review.ApprovalMarkdown renders of the reply.
func (r *StatusReply) View() review.ApprovalView {
	v := review.ApprovalView{Commit: r.Commit, Ready: r.Ready, Status: r.Status, Approvals: r.Approvals, Warnings: r.Warnings}
	for _, g := range r.Groups {
		v.Groups = append(v.Groups, review.ApprovalGroup{ID: g.ID, Resource: g.Resource, Hosts: g.Hosts})
	}
	for _, g := range r.Withdrawn {
		v.Withdrawn = append(v.Withdrawn, review.ApprovalGroup{ID: g.ID, Resource: g.Resource, Hosts: g.Hosts})
	}
	return v
}

// GroupView is a group as an approver sees it: what and where, and the
// digest an approval binds to.
type GroupView struct {
	ID       string   `json:"id"`
	Resource string   `json:"resource"`
	File     string   `json:"file,omitempty"`
	Hosts    []string `json:"hosts"`
	Digest   string   `json:"digest"`
}

// ApproveRequest approves groups of a commit as seen: each group id with
// the digest shown. Source is cli, github, chat or web.
type ApproveRequest struct {
	Revision string            `json:"revision"`
	Source   string            `json:"source"`
	Groups   map[string]string `json:"groups"`
}

// RevokeRequest withdraws the sender's approvals of a commit.
type RevokeRequest struct {
	Revision string `json:"revision"`
}

// ChangeReply says what an approval or a revocation did.
type ChangeReply struct {
	Commit   string `json:"commit"`
	Approved bool   `json:"approved"`
	// Counted lists the groups the sender's approval now approves.
	Counted []string `json:"counted,omitempty"`
	Message string   `json:"message"`
}

func (a *Approver) addService(ctx context.Context) (micro.Service, error) {
	svc, err := micro.AddService(a.conn.NC, micro.Config{
		Name:        "balcony-approver",
		Version:     a.opts.Version,
		Description: "approvals of delta noops: status, approve.<identity>, revoke.<identity>",
	})
	if err != nil {
		return nil, err
	}
	endpoints := []struct {
		name, subject string
		// identified: the subject's last token is who speaks, and
		// must be a valid login.
		identified bool
		h          func(context.Context, string, []byte) (any, error)
	}{
		{"approve", ApprovePrefix + identityTokens, true, a.handleApprove},
		{"revoke", RevokePrefix + identityTokens, true, a.handleRevoke},
		// Last: the server takes one client's subscriptions in order, so
		// a status answered means approve and revoke answer too.
		{"status", StatusSubject, false, a.handleStatus},
	}
	for _, e := range endpoints {
		h, identified := e.h, e.identified
		serve := func(req micro.Request) {
			rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			var identity string
			var reply any
			var err error
			if identified {
				var verr error
				if identity, verr = owners.SubjectLogin(req.Subject()); verr != nil {
					err = fmt.Errorf("%w: the identity of the subject: %w", bus.ErrMalformed, verr)
				}
			}
			if err == nil {
				reply, err = h(rctx, identity, req.Data())
			}
			if err != nil {
				code := "500"
				switch {
				case errors.Is(err, bus.ErrMalformed):
					code = "400"
				case errors.Is(err, nooper.ErrUnknownCommit), errors.Is(err, ErrNotReady):
					code = "404"
				}
				a.log.Debug().Err(err).Str("subject", req.Subject()).Msg("request refused")
				a.respondError(req.Reply(), code, err.Error())
				return
			}
			a.respondJSON(req.Reply(), reply)
		}
		// A subscription delivers one request at a time: each is served
		// on its own goroutine, so that an approval waiting on GitHub
		// or the nooper never delays another. Past maxRequests at once,
		// the subscription waits.
		err := svc.AddEndpoint(e.name, micro.HandlerFunc(func(req micro.Request) {
			select {
			case a.requests <- struct{}{}:
			case <-ctx.Done():
				return
			}
			a.serving.Add(1)
			go func() {
				defer func() { <-a.requests; a.serving.Done() }()
				serve(req)
			}()
		}), micro.WithEndpointSubject(e.subject))
		if err != nil {
			_ = svc.Stop()
			return nil, err
		}
	}
	return svc, nil
}

// respondJSON and respondError answer a request served on a goroutine of
// the approver's own. They publish on the reply subject themselves, as
// micro's Respond and Error do, because those record the outcome in the
// request, which micro reads for its statistics once the handler has
// returned: written from another goroutine, that is a data race (the race
// detector saw it). micro's error counts then leave the approver's
// refusals out; its logs and metrics count them.
func (a *Approver) respondJSON(reply string, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		a.respondError(reply, "500", "encode the answer: "+err.Error())
		return
	}
	if err := a.conn.NC.Publish(reply, data); err != nil {
		a.log.Warn().Err(err).Msg("answer a request")
	}
}

func (a *Approver) respondError(reply, code, description string) {
	msg := &nats.Msg{Subject: reply, Header: nats.Header{
		micro.ErrorHeader: []string{description}, micro.ErrorCodeHeader: []string{code},
	}}
	if err := a.conn.NC.PublishMsg(msg); err != nil {
		a.log.Warn().Err(err).Msg("answer a request")
	}
}

func decode(data []byte, v any) error {
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%w: %v", bus.ErrMalformed, err)
	}
	return nil
}

func (a *Approver) handleStatus(ctx context.Context, _ string, data []byte) (any, error) {
	var req StatusRequest
	if err := decode(data, &req); err != nil {
		return nil, err
	}
	st, err := a.view(ctx, req.Revision)
	if err != nil {
		return nil, err
	}
	return statusReply(st), nil
}

func statusReply(st *state) StatusReply {
	r := StatusReply{
		Commit: st.rec.Commit, Ready: st.ready, Approved: st.ready && st.rec.Status.Approved,
		Approvals: st.rec.Approvals, Warnings: st.warnings,
	}
	if st.ready { // else not evaluated: what is stored is of no delta
		r.Status = st.rec.Status
	}
	for _, g := range st.groups {
		r.Groups = append(r.Groups, view(g))
	}
	for _, g := range st.withdrawn {
		r.Withdrawn = append(r.Withdrawn, view(g))
	}
	return r
}

func view(g delta.Group) GroupView {
	return GroupView{ID: g.ID, Resource: g.Resource.ID, File: g.Resource.File, Hosts: g.Hosts, Digest: owners.GroupDigest(g)}
}

func (a *Approver) handleApprove(ctx context.Context, who string, data []byte) (any, error) {
	var req ApproveRequest
	if err := decode(data, &req); err != nil {
		return nil, err
	}
	switch req.Source {
	case owners.SourceCLI, owners.SourceGitHub, owners.SourceChat, owners.SourceWeb:
	default:
		return nil, fmt.Errorf("%w: source %q: want cli, github, chat or web", bus.ErrMalformed, req.Source)
	}
	if who == "" || len(req.Groups) == 0 {
		return nil, fmt.Errorf("%w: an approval needs an identity and the groups approved", bus.ErrMalformed)
	}
	st, err := a.update(ctx, req.Revision, func(st *state) error {
		if !st.ready {
			return fmt.Errorf("%w: %s", ErrNotReady, st.rec.Commit.SHA)
		}
		st.rec.Approvals = append(st.rec.Approvals, owners.Approval{
			Commit: st.rec.Commit.SHA, By: who, Source: req.Source, At: a.opts.Now().UTC(), Groups: req.Groups,
		})
		return nil
	})
	if err != nil {
		return nil, err
	}
	reply := changeReply(st, who)
	a.metrics.approvals.WithLabelValues(req.Source).Inc()
	a.log.Info().Str("commit", st.rec.Commit.SHA).Str("by", who).Str("source", req.Source).Strs("counted", reply.Counted).Msg("approval recorded")
	return reply, nil
}

func (a *Approver) handleRevoke(ctx context.Context, who string, data []byte) (any, error) {
	var req RevokeRequest
	if err := decode(data, &req); err != nil {
		return nil, err
	}
	removed := 0
	st, err := a.update(ctx, req.Revision, func(st *state) error {
		removed = 0 // applied again to the record read again after a conflict
		kept := st.rec.Approvals[:0]
		for _, ap := range st.rec.Approvals {
			if owners.Normalize(ap.By) == who {
				removed++
				continue
			}
			kept = append(kept, ap)
		}
		st.rec.Approvals = kept
		return nil
	})
	if err != nil {
		return nil, err
	}
	reply := changeReply(st, who)
	reply.Message = fmt.Sprintf("%d approvals by %s withdrawn; %s", removed, who, reply.Message)
	if removed > 0 {
		a.metrics.revokes.Inc()
		a.log.Info().Str("commit", st.rec.Commit.SHA).Str("by", who).Int("removed", removed).Msg("approvals revoked")
		ev := protocol.Event{
			Type: "approval.revoked", Repo: st.rec.Repo, Commit: st.rec.Commit.SHA, Service: "approver",
			Text: fmt.Sprintf("%s withdrew their approval of %s %q; %s", who, protocol.Short(st.rec.Commit.SHA), st.rec.Commit.Subject, reply.Message),
			Data: map[string]any{"by": who, "approved": reply.Approved},
		}
		if err := a.conn.Announce(ctx, "", ev); err != nil {
			a.log.Warn().Err(err).Msg("announce revocation")
		}
	}
	return reply, nil
}

func changeReply(st *state, who string) ChangeReply {
	r := ChangeReply{Commit: st.rec.Commit.SHA, Approved: st.rec.Status.Approved}
	for _, g := range st.rec.Status.Groups {
		for _, by := range g.ApprovedBy {
			if by == who {
				r.Counted = append(r.Counted, g.ID)
			}
		}
	}
	switch {
	case slices.Contains(st.rec.Status.Authors, who):
		r.Message = "recorded, but it approves no group: " + who + " is an author or co-author of the commit, and authors and co-authors never approve their own commit"
		if r.Approved {
			r.Message += "; the commit is approved by others"
		}
	case r.Approved:
		r.Message = "the commit is approved"
	case len(r.Counted) == 0:
		r.Message = "recorded, but it approves no group: " + who + " is not an owner who can approve them (see approver status)"
	default:
		r.Message = fmt.Sprintf("approves %d of the commit's groups; others still need owners (see approver status)", len(r.Counted))
	}
	return r
}
