package nooper

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/nats-io/nats.go/micro"

	"github.com/balcony-dev/balcony/pkg/review"
)

// Subjects of the nooper's service. Each takes a revision as payload.
const (
	// ShowSubject answers with the JSON review document of the revision's
	// noop (docs/review-json.md).
	ShowSubject = "balcony.nooper.show"
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
		Description: "delta noops of each commit: show <revision> returns the review JSON; renoop <revision> noops it again",
	})
	if err != nil {
		return nil, err
	}
	err = svc.AddEndpoint("show", micro.HandlerFunc(func(req micro.Request) {
		rev := strings.TrimSpace(string(req.Data()))
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		c, err := Load(rctx, n.conn.JS, rev)
		if errors.Is(err, ErrUnknownCommit) {
			_ = req.Error("404", err.Error(), nil)
			return
		}
		if err != nil {
			_ = req.Error("500", err.Error(), nil)
			return
		}
		doc := c.Document()
		if p, ok := n.liveProgress(c.Commit.SHA); ok && !doc.Complete {
			// The stored record is saved when runs are asked, not on
			// every answer: the running collection knows better.
			doc.Progress = &p
		}
		data, err := review.JSON(doc)
		if err != nil {
			_ = req.Error("500", err.Error(), nil)
			return
		}
		_ = req.Respond(data)
	}), micro.WithEndpointSubject(ShowSubject))
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
