package agent

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/balcony-dev/balcony/pkg/codebus"
	"github.com/balcony-dev/balcony/pkg/gitrepo"
	"github.com/balcony-dev/balcony/pkg/metrics"
)

// CodeSource brings revisions of the Puppet code into the agent's own copy
// (the repository its checkouts and apply checks read). One that also has a
// Repairs() []string method is asked what it put right, for the log.
type CodeSource interface {
	// Update brings the revisions named (announced by commit events, or
	// asked for by a run) into the local copy; with none, whatever the
	// source has that is new (at start).
	Update(ctx context.Context, revisions ...string) error
}

// GitCode is a mirror of the git repository: every update fetches every
// branch, whatever the revisions.
type GitCode struct {
	Mirror *gitrepo.Repo
}

// Update fetches the mirror.
func (g GitCode) Update(ctx context.Context, _ ...string) error { return g.Mirror.Fetch(ctx) }

// Repairs says what the mirror put right.
func (g GitCode) Repairs() []string { return g.Mirror.Repairs() }

// StartHeads bounds the revisions a BusCode fetches at start: the tips of
// the store's chains of packs, newest first (one per branch published to
// lately).
const StartHeads = 8

// BusCode brings revisions from the code object store (pkg/codebus), for a
// node that reaches the bus but not the git server. What it stores is
// verified: a revision whose code does not verify is refused
// (codebus.ErrCodeUnverified) and nothing of it is kept.
type BusCode struct {
	o       BusCodeOptions
	metrics *codeMetrics
}

// BusCodeOptions configures a BusCode. Fetcher is required.
type BusCodeOptions struct {
	Fetcher *codebus.Fetcher
	// Local is the repository the Fetcher writes (for Repairs).
	Local *gitrepo.Repo
	// Git, when set, is a mirror of the git repository, fetched when the
	// bus holds no code for a revision (published before the committer's
	// --publish-code was on, or expired). Nil: the bus alone.
	Git *gitrepo.Repo
	Log zerolog.Logger
	// Registerer is where the code metrics go; nil keeps them private.
	Registerer prometheus.Registerer
}

// NewBusCode returns the code source of o.
func NewBusCode(o BusCodeOptions) *BusCode {
	return &BusCode{o: o, metrics: newCodeMetrics(o.Registerer)}
}

// Update fetches each revision from the bus; with none, the store's heads
// (Fetcher.Heads). A revision with no pack of its own (a commit inside a
// push, whose pack is its tip's) is brought by fetching the heads, once
// per call, which hold it when it was published.
func (b *BusCode) Update(ctx context.Context, revisions ...string) error {
	if len(revisions) == 0 {
		heads, err := b.o.Fetcher.Heads(ctx, StartHeads)
		if err != nil {
			return fmt.Errorf("code heads: %w", err)
		}
		if len(heads) == 0 && b.o.Git != nil {
			return b.o.Git.Fetch(ctx)
		}
		revisions = heads
	}
	var errs []error
	headsFetched := false
	for _, rev := range revisions {
		err := b.fetch(ctx, rev)
		if errors.Is(err, codebus.ErrNoCode) && !headsFetched {
			headsFetched = true
			err = b.fromHeads(ctx, rev, err)
		}
		if errors.Is(err, codebus.ErrNoCode) && b.o.Git != nil {
			b.o.Log.Info().Str("revision", rev).Msg("no code on the bus for this revision: fetching it from git")
			err = b.o.Git.Fetch(ctx)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// fromHeads fetches the store's heads and tells whether rev came with
// them; notFound is the error of rev's own fetch.
func (b *BusCode) fromHeads(ctx context.Context, rev string, notFound error) error {
	heads, err := b.o.Fetcher.Heads(ctx, StartHeads)
	if err != nil {
		return fmt.Errorf("%w; code heads: %v", notFound, err)
	}
	for _, h := range heads {
		if err := b.fetch(ctx, h); err != nil && !errors.Is(err, codebus.ErrNoCode) {
			return err
		}
	}
	has, err := b.o.Fetcher.Has(rev)
	if err != nil {
		return err
	}
	if !has {
		return notFound
	}
	return nil
}

// fetch fetches one revision, logs and counts what it did.
func (b *BusCode) fetch(ctx context.Context, rev string) error {
	began := time.Now()
	res, err := b.o.Fetcher.Fetch(ctx, rev)
	log := b.o.Log.With().Str("revision", rev).Logger()
	switch {
	case err == nil && res.Present:
		b.metrics.fetches.WithLabelValues("present").Inc()
		return nil
	case err == nil:
		b.metrics.fetches.WithLabelValues("fetched").Inc()
		b.metrics.bytes.Add(float64(res.Bytes))
		log.Info().Int("packs", len(res.Packs)).Uint64("bytes", res.Bytes).
			Float64("fetch_seconds", time.Since(began).Seconds()).Msg("code fetched from the bus")
		return nil
	case errors.Is(err, codebus.ErrCodeUnverified):
		b.metrics.fetches.WithLabelValues("unverified").Inc()
		log.Error().Err(err).Msg("refused the code of a revision: it does not verify")
	case errors.Is(err, codebus.ErrNoCode):
		b.metrics.fetches.WithLabelValues("no_code").Inc()
	default:
		b.metrics.fetches.WithLabelValues("error").Inc()
	}
	return fmt.Errorf("code of %s from the bus: %w", rev, err)
}

// Repairs says what opening the local repository put right.
func (b *BusCode) Repairs() []string {
	var fixes []string
	if b.o.Local != nil {
		fixes = b.o.Local.Repairs()
	}
	if b.o.Git != nil && b.o.Git != b.o.Local {
		fixes = append(fixes, b.o.Git.Repairs()...)
	}
	return fixes
}

// codeMetrics count the bus's code fetches.
type codeMetrics struct {
	fetches *prometheus.CounterVec
	bytes   prometheus.Counter
}

func newCodeMetrics(reg prometheus.Registerer) *codeMetrics {
	reg = metrics.Or(reg)
	return &codeMetrics{
		fetches: metrics.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metrics.Namespace, Subsystem: "agent", Name: "code_fetches_total",
			Help: "Revisions asked of the code object store, by outcome: present (already here), fetched, no_code, unverified (refused), error.",
		}, []string{"outcome"})),
		bytes: metrics.Register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: metrics.Namespace, Subsystem: "agent", Name: "code_bytes_total",
			Help: "Bytes of packs downloaded from the code object store.",
		})),
	}
}
