package nooper

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/protocol"
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
	data, err := c.fetch(ctx, ShowSubject, rev)
	if err != nil {
		return review.Document{}, nil, err
	}
	doc, err := review.ParseJSON(data)
	return doc, data, err
}

// Collection returns the noop of rev (a sha or an unambiguous prefix) as
// the nooper stores it, with its result however large. An unknown
// revision wraps ErrUnknownCommit.
func (c Client) Collection(ctx context.Context, rev string) (*Collection, error) {
	data, err := c.fetch(ctx, CollectionSubject, rev)
	if err != nil {
		return nil, err
	}
	var col Collection
	if err := bus.Unmarshal(data, &col); err != nil {
		return nil, fmt.Errorf("noop of %s from the nooper: %w", rev, err)
	}
	return &col, nil
}

// Report returns host's noop of rev (a full sha) as the nooper keeps it:
// the normalized report of the last noop of rev the host answered, with
// when it finished (FinishedAt, the host's clock). None wraps ErrNoReport.
// The nooper keeps one report per revision and host: once the host's
// apply is recorded, a re-noop replaces it with the host's noop after
// the apply (FinishedAt later than the apply).
func (c Client) Report(ctx context.Context, rev, host string) (*protocol.RunResult, error) {
	data, err := c.fetch(ctx, ReportSubject, rev+" "+host)
	if err != nil {
		return nil, err
	}
	var r protocol.RunResult
	if err := bus.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("noop of %s on %s from the nooper: %w", rev, host, err)
	}
	if r.Revision != rev || r.Host != host {
		return nil, fmt.Errorf("the nooper answered the noop of %s on %s with that of %s on %s", rev, host, r.Revision, r.Host)
	}
	return &r, nil
}

// Renoop noops rev again on every host and returns its full sha. While
// the noop of rev, or one that uses its reports, runs, the error wraps
// ErrCollecting: ask again once it is done.
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

// fetchRestarts bounds how often fetch starts over because the document
// changed between its chunks.
const fetchRestarts = 3

// fetch asks subject for rev's document and reassembles it from its
// chunks (chunk.go), starting over when it changed between them.
func (c Client) fetch(ctx context.Context, subject, rev string) ([]byte, error) {
	var (
		doc    []byte
		digest string
	)
	for restarts := 0; ; {
		msg, err := c.request(ctx, subject, rev, len(doc), digest)
		if err != nil {
			return nil, err
		}
		h := msg.Header.Get(TotalHeader)
		if h == "" && len(doc) == 0 {
			return msg.Data, nil // a nooper that does not chunk
		}
		total, err := strconv.Atoi(h)
		if err != nil || total < len(doc)+len(msg.Data) {
			return nil, fmt.Errorf("%s %s: bad chunk of %d bytes at %d of %q", subject, rev, len(msg.Data), len(doc), h)
		}
		d := msg.Header.Get(DigestHeader)
		if len(doc) > 0 && d != digest {
			// The noop moved on between two chunks, and the nooper no
			// longer keeps the one begun: start over.
			if restarts++; restarts > fetchRestarts {
				return nil, fmt.Errorf("%s %s: the document changed %d times while it was read", subject, rev, restarts)
			}
			doc, digest = nil, ""
			continue
		}
		digest = d
		if doc == nil {
			doc = make([]byte, 0, total)
		}
		doc = append(doc, msg.Data...)
		if len(doc) == total {
			if digestOf(doc) != digest {
				return nil, fmt.Errorf("%s %s: the document's %d bytes do not match its digest", subject, rev, total)
			}
			return doc, nil
		}
		if len(msg.Data) == 0 {
			return nil, fmt.Errorf("%s %s: empty chunk at %d of %d bytes", subject, rev, len(doc), total)
		}
	}
}

func (c Client) call(ctx context.Context, subject, rev string) ([]byte, error) {
	msg, err := c.request(ctx, subject, rev, 0, "")
	if err != nil {
		return nil, err
	}
	return msg.Data, nil
}

// request asks subject about rev, from offset of the document of digest
// when offset is not 0, and turns the service's errors into Go's.
func (c Client) request(ctx context.Context, subject, rev string, offset int, digest string) (*nats.Msg, error) {
	req := nats.NewMsg(subject)
	req.Data = []byte(rev)
	if offset > 0 {
		req.Header.Set(OffsetHeader, strconv.Itoa(offset))
		req.Header.Set(DigestHeader, digest)
	}
	msg, err := bus.Request(ctx, c.NC, req)
	if errors.Is(err, nats.ErrNoResponders) {
		return nil, fmt.Errorf("%w (nobody answers %s)", ErrNoNooper, subject)
	}
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", subject, rev, err)
	}
	switch msg.Header.Get(micro.ErrorCodeHeader) {
	case "":
		return msg, nil
	case "404":
		switch subject {
		case ReportSubject:
			return nil, fmt.Errorf("%w: %s", ErrNoReport, rev)
		case HostSubject:
			return nil, fmt.Errorf("%w: %s", ErrUnknownHost, rev)
		}
		return nil, fmt.Errorf("%w: %s", ErrUnknownCommit, rev)
	case "409":
		// A re-noop of a commit whose noop (or one that uses its
		// reports) is running: the caller may ask again once it is done.
		desc := strings.TrimPrefix(msg.Header.Get(micro.ErrorHeader), ErrCollecting.Error()+": ")
		return nil, fmt.Errorf("%w: %s", ErrCollecting, desc)
	default:
		return nil, fmt.Errorf("nooper: %s", msg.Header.Get(micro.ErrorHeader))
	}
}

// Commits returns the newest limit nooped commits (0: DefaultCommits),
// newest first, as CommitsSubject answers.
func (c Client) Commits(ctx context.Context, limit int) (*CommitsReply, error) {
	req, err := json.Marshal(CommitsRequest{Limit: limit})
	if err != nil {
		return nil, err
	}
	var r CommitsReply
	return &r, c.fetchJSON(ctx, CommitsSubject, string(req), &r)
}

// Hosts returns every registered host and what is pending on it.
func (c Client) Hosts(ctx context.Context) (*HostsReply, error) {
	var r HostsReply
	return &r, c.fetchJSON(ctx, HostsSubject, "", &r)
}

// Host returns host in detail; an unknown host wraps ErrUnknownHost.
func (c Client) Host(ctx context.Context, host string) (*HostReply, error) {
	var r HostReply
	return &r, c.fetchJSON(ctx, HostSubject, host, &r)
}

func (c Client) fetchJSON(ctx context.Context, subject, payload string, v any) error {
	data, err := c.fetch(ctx, subject, payload)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%s from the nooper: %w", subject, err)
	}
	return nil
}
