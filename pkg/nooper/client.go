package nooper

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/balcony-dev/balcony/pkg/review"
)

// ErrNoNooper: nobody answers the nooper's service subjects.
var ErrNoNooper = errors.New("no nooper is running")

// Client asks a running nooper over NATS, through its service subjects
// only (never its buckets): what the CLI, chat bridges and tools use.
type Client struct{ NC *nats.Conn }

// Show returns the review of rev (a sha or an unambiguous prefix) as the
// nooper has it now, with its live progress while it is collecting, and
// the JSON it came as (docs/review-json.md). An unknown revision wraps
// ErrUnknownCommit.
func (c Client) Show(ctx context.Context, rev string) (review.Document, []byte, error) {
	data, err := c.call(ctx, ShowSubject, rev)
	if err != nil {
		return review.Document{}, nil, err
	}
	doc, err := review.ParseJSON(data)
	return doc, data, err
}

// Renoop noops rev again on every host and returns its full sha.
func (c Client) Renoop(ctx context.Context, rev string) (string, error) {
	data, err := c.call(ctx, RenoopSubject, rev)
	return string(data), err
}

// Wait shows rev until its noop is complete, or until wait has passed,
// asking every poll; it returns the last review it got. progress is called
// with each new progress while the noop runs, and with nil while the
// nooper does not know rev yet (the commit event may still be on its way).
func (c Client) Wait(ctx context.Context, rev string, wait, poll time.Duration, progress func(*review.Progress)) (review.Document, []byte, error) {
	if progress == nil {
		progress = func(*review.Progress) {}
	}
	deadline := time.Now().Add(wait)
	tick := time.NewTicker(poll)
	defer tick.Stop()
	said := "-"
	for {
		doc, data, err := c.Show(ctx, rev)
		switch {
		case err == nil && doc.Complete, err != nil && !errors.Is(err, ErrUnknownCommit):
			return doc, data, err
		case time.Now().After(deadline):
			return doc, data, err
		case err != nil: // unknown yet
			if said != "" {
				progress(nil)
				said = ""
			}
		case doc.Progress != nil:
			if s := doc.Progress.String(); s != said {
				progress(doc.Progress)
				said = s
			}
		}
		select {
		case <-ctx.Done():
			return doc, data, ctx.Err()
		case <-tick.C:
		}
	}
}

func (c Client) call(ctx context.Context, subject, rev string) ([]byte, error) {
	msg, err := c.NC.RequestWithContext(ctx, subject, []byte(rev))
	if errors.Is(err, nats.ErrNoResponders) {
		return nil, fmt.Errorf("%w (nobody answers %s)", ErrNoNooper, subject)
	}
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", subject, rev, err)
	}
	switch msg.Header.Get(micro.ErrorCodeHeader) {
	case "":
		return msg.Data, nil
	case "404":
		return nil, fmt.Errorf("%w: %s", ErrUnknownCommit, rev)
	default:
		return nil, fmt.Errorf("nooper: %s", msg.Header.Get(micro.ErrorHeader))
	}
}
