package nooper

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/micro"

	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/protocol"
	"github.com/balcony-dev/balcony/pkg/review"
)

// Subjects of the nooper's service. Each but report takes a revision (a
// sha or an unambiguous prefix) as payload. Show, collection and report
// answer in chunks when the answer is larger than a message (chunk.go).
const (
	// ShowSubject answers with the JSON review document of the revision's
	// noop (docs/review-json.md).
	ShowSubject = "balcony.nooper.show"
	// CollectionSubject answers with the revision's Collection, result
	// included, in msgpack: what the approver evaluates.
	CollectionSubject = "balcony.nooper.collection"
	// RenoopSubject noops the revision again on every host and answers
	// with its full sha.
	RenoopSubject = "balcony.nooper.renoop"
	// ReportSubject takes "<full sha> <host>" and answers with the host's
	// stored noop of that revision (protocol.RunResult, msgpack, the
	// normalized report in it; FinishedAt says when the host took it), or
	// 404 when the nooper keeps none: what the applier reconciles a
	// host's apply with.
	ReportSubject = "balcony.nooper.report"
)

// ErrNoReport is returned for a (revision, host) the nooper keeps no noop
// report of.
var ErrNoReport = errors.New("no noop report of this revision on this host")

// ErrUnknownHost is returned for a host the nooper neither has a record
// of nor keeps anything about.
var ErrUnknownHost = errors.New("no such host")

// errBadRequest is a request the service cannot read: answered 400.
var errBadRequest = errors.New("bad request")

// reportRequest reads a report request's payload, "<full sha> <host>".
// The sha is whole: reports are kept by revision, and a chain's revision
// need not have a noop of its own to resolve a prefix against.
func reportRequest(data []byte) (rev, host string, err error) {
	f := strings.Fields(string(data))
	if len(f) != 2 || !protocol.ValidSHA(f[0]) || bus.ValidHost(f[1]) != nil {
		return "", "", fmt.Errorf("%w: want \"<full sha> <host>\", got %.100q", errBadRequest, data)
	}
	return f[0], f[1], nil
}

// addService registers the nooper on the NATS micro-service API, so that
// `nats micro ls` lists it and tools can ask it for a review.
func (n *Nooper) addService(ctx context.Context, version string) (micro.Service, error) {
	svc, err := micro.AddService(n.conn.NC, micro.Config{
		Name:        "balcony-nooper",
		Version:     version,
		Description: "delta noops of each commit: show <revision> returns the review JSON; collection <revision> the noop record (msgpack); report <sha> <host> a host's noop report (msgpack); renoop <revision> noops it again; commits, hosts and host <name> the overview (JSON)",
	})
	if err != nil {
		return nil, err
	}
	err = svc.AddEndpoint("show", micro.HandlerFunc(func(req micro.Request) {
		n.served.serve(req, n.conn.PayloadLimit(), func() ([]byte, error) {
			rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			c, err := n.load(rctx, strings.TrimSpace(string(req.Data())))
			if err != nil {
				return nil, err
			}
			doc := c.Document()
			if p, ok := n.liveProgress(c.Commit.SHA); ok && !doc.Complete {
				// The stored record is saved when runs are asked, not on
				// every answer: the running collection knows better.
				doc.Progress = &p
			}
			return review.JSON(doc)
		})
	}), micro.WithEndpointSubject(ShowSubject))
	if err != nil {
		_ = svc.Stop()
		return nil, err
	}
	err = svc.AddEndpoint("collection", micro.HandlerFunc(func(req micro.Request) {
		n.served.serve(req, n.conn.PayloadLimit(), func() ([]byte, error) {
			rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			c, err := n.load(rctx, strings.TrimSpace(string(req.Data())))
			if err != nil {
				return nil, err
			}
			return bus.Marshal(c)
		})
	}), micro.WithEndpointSubject(CollectionSubject))
	if err != nil {
		_ = svc.Stop()
		return nil, err
	}
	err = svc.AddEndpoint("report", micro.HandlerFunc(func(req micro.Request) {
		n.served.serve(req, n.conn.PayloadLimit(), func() ([]byte, error) {
			rev, host, err := reportRequest(req.Data())
			if err != nil {
				return nil, err
			}
			rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			r, err := n.store.report(rctx, rev, host)
			if err != nil {
				return nil, err
			}
			if r == nil {
				return nil, fmt.Errorf("%w: %s on %s", ErrNoReport, protocol.Short(rev), host)
			}
			return bus.Marshal(r)
		})
	}), micro.WithEndpointSubject(ReportSubject))
	if err != nil {
		_ = svc.Stop()
		return nil, err
	}
	err = svc.AddEndpoint("renoop", micro.HandlerFunc(func(req micro.Request) {
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		sha, err := n.Renoop(rctx, strings.TrimSpace(string(req.Data())))
		switch {
		case errors.Is(err, ErrUnknownCommit):
			_ = req.Error("404", err.Error(), nil)
		case errors.Is(err, ErrCollecting):
			_ = req.Error("409", err.Error(), nil)
		case err != nil:
			_ = req.Error("500", err.Error(), nil)
		default:
			_ = req.Respond([]byte(sha))
		}
	}), micro.WithEndpointSubject(RenoopSubject))
	if err == nil {
		err = n.addOverview(ctx, svc)
	}
	if err != nil {
		_ = svc.Stop()
		return nil, err
	}
	return svc, nil
}

// load reads the stored collection of rev, a sha or an unambiguous prefix.
func (n *Nooper) load(ctx context.Context, rev string) (*Collection, error) {
	sha, err := n.store.resolve(ctx, rev)
	if err != nil {
		return nil, err
	}
	return n.store.collection(ctx, sha)
}

// replyError answers req with err: 404 for an unknown revision or host or
// a missing report, 400 for a request it cannot read.
func replyError(req micro.Request, err error) {
	switch {
	case errors.Is(err, ErrUnknownCommit), errors.Is(err, ErrNoReport), errors.Is(err, ErrUnknownHost):
		_ = req.Error("404", err.Error(), nil)
	case errors.Is(err, errBadRequest):
		_ = req.Error("400", err.Error(), nil)
	default:
		_ = req.Error("500", err.Error(), nil)
	}
}

// Document is the review document of the collection, with its progress
// as stored while it is collecting.
func (c *Collection) Document() review.Document {
	doc := review.Document{Repo: c.Repo, Branch: c.Branch, Commit: c.Commit, Result: c.Result, Complete: c.State == StateReady}
	if !doc.Complete {
		p := c.Progress()
		doc.Progress = &p
	}
	return doc
}
