package nooper

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/nats-io/nats.go/micro"

	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/review"
)

// Subjects of the nooper's service. Each takes a revision (a sha or an
// unambiguous prefix) as payload. Show and collection answer in chunks
// when the answer is larger than a message (chunk.go).
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
)

// addService registers the nooper on the NATS micro-service API, so that
// `nats micro ls` lists it and tools can ask it for a review.
func (n *Nooper) addService(ctx context.Context, version string) (micro.Service, error) {
	svc, err := micro.AddService(n.conn.NC, micro.Config{
		Name:        "balcony-nooper",
		Version:     version,
		Description: "delta noops of each commit: show <revision> returns the review JSON; collection <revision> the noop record (msgpack); renoop <revision> noops it again",
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

// replyError answers req with err: 404 for an unknown revision.
func replyError(req micro.Request, err error) {
	if errors.Is(err, ErrUnknownCommit) {
		_ = req.Error("404", err.Error(), nil)
		return
	}
	_ = req.Error("500", err.Error(), nil)
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
