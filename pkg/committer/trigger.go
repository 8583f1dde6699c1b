package committer

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/gitrepo"
	"github.com/balcony-dev/balcony/pkg/protocol"
	"github.com/balcony-dev/balcony/pkg/review"
)

// TriggerBucket is the KV bucket (streams.yaml) that keeps the triggers'
// records: the committer's own, so a restarted serve loses none.
const TriggerBucket = "triggers"

// Kinds of trigger.
const (
	// TriggerNoop noops a revision: a commit event is published for it.
	TriggerNoop = "noop"
	// TriggerRenoop noops a commit again through the nooper's renoop.
	TriggerRenoop = "renoop"
)

// States of a trigger. A dispatched trigger's progress is read from the
// nooper's service, never from its buckets.
const (
	TriggerQueued     = "queued"
	TriggerDispatched = "dispatched"
	TriggerReady      = "ready"
	TriggerFailed     = "failed"
)

// FirstParentLimit is how far below a branch's tip a triggered revision
// may be: the nooper accepts a commit event that far down (its
// chainLimit), no further.
const FirstParentLimit = 10 * gitrepo.DefaultLimit

// Nooper is what the trigger asks the nooper's service (nooper.Client):
// the review of a revision, and a re-noop. Show wraps
// nooper.ErrUnknownCommit for a revision it has no noop of; Renoop wraps
// nooper.ErrCollecting while the commit's noop, or one using its reports,
// runs.
type Nooper interface {
	Show(ctx context.Context, rev string) (review.Document, []byte, error)
	Renoop(ctx context.Context, rev string) (string, error)
}

// TriggerRecord is one trigger as the triggers bucket keeps it, under its
// id.
type TriggerRecord struct {
	Schema int    `msgpack:"schema"`
	ID     string `msgpack:"id"`
	Kind   string `msgpack:"kind"`
	// Revision is what the request named (a sha, a prefix, a ref);
	// Commit the full sha the committer's repository resolved it to, and
	// Branch the configured branch whose first-parent chain has it.
	Revision string `msgpack:"revision"`
	Commit   string `msgpack:"commit"`
	Branch   string `msgpack:"branch"`
	State    string `msgpack:"state"`
	// Reason says why a trigger failed, or why it is still queued.
	Reason     string    `msgpack:"reason"`
	Created    time.Time `msgpack:"created"`
	Dispatched time.Time `msgpack:"dispatched"`
	// Summary is the review's, once ready.
	Summary *TriggerSummary `msgpack:"summary"`
}

// TriggerStatus is what POST /trigger and GET /trigger/<id> answer (JSON,
// docs/trigger.md).
type TriggerStatus struct {
	ID       string `json:"id"`
	Kind     string `json:"kind"`
	Revision string `json:"revision"`
	Commit   string `json:"commit"`
	Branch   string `json:"branch"`
	// State is queued (not yet handed to the nooper), dispatched (handed
	// on: the nooper is nooping, Progress says how far), ready (Summary
	// says what the review shows) or failed (Reason says why).
	State    string           `json:"state"`
	Reason   string           `json:"reason,omitempty"`
	Progress *review.Progress `json:"progress,omitempty"`
	Summary  *TriggerSummary  `json:"summary,omitempty"`
	// Review is the command that prints the whole review.
	Review     string     `json:"review"`
	Created    time.Time  `json:"created"`
	Dispatched *time.Time `json:"dispatched,omitempty"`
}

// TriggerSummary is what a ready noop's review shows, counted
// (review.Summary): hosts asked and answered, change groups and the hosts
// they change, distinct errors and the hosts that failed, and the one-line
// summary.
type TriggerSummary struct {
	Hosts        int    `msgpack:"hosts" json:"hosts"`
	Answered     int    `msgpack:"answered" json:"answered"`
	Changes      int    `msgpack:"changes" json:"changes"`
	ChangedHosts int    `msgpack:"changed_hosts" json:"changed_hosts"`
	Errors       int    `msgpack:"errors" json:"errors"`
	ErrorHosts   int    `msgpack:"error_hosts" json:"error_hosts"`
	Text         string `msgpack:"text" json:"text"`
}

// TriggerOptions configures a Trigger. The zero value of each optional
// field selects its default.
type TriggerOptions struct {
	// Token is the bearer token every request must carry: required.
	Token []byte
	// Committer reads the repository and publishes commit events:
	// required.
	Committer *Committer
	// Fetch updates the repository the Committer reads before a
	// revision is resolved (a mirror); nil for a repository read in place.
	Fetch func(ctx context.Context) error
	// Nooper is the nooper's service: required.
	Nooper Nooper
	// Bucket is the triggers bucket: required.
	Bucket jetstream.KeyValue
	// Log receives one line per trigger; the zero Logger discards.
	Log zerolog.Logger
	// Registerer takes the trigger's collectors (metrics.go); nil: a
	// private registry.
	Registerer prometheus.Registerer
	// Now stamps records; time.Now by default.
	Now func() time.Time
	// Retry is how often a queued trigger is tried again (a re-noop
	// waiting for a running noop, a bus that was down); 2s by default.
	Retry time.Duration
	// QueueTimeout is how long a trigger may stay queued before it fails;
	// 6h by default (a noop of a large fleet can take hours).
	QueueTimeout time.Duration
	// StartTimeout is how long after a noop trigger's commit event the
	// nooper may take to start nooping it before the trigger shows as
	// failed; 10m by default.
	StartTimeout time.Duration
}

// Errors a caller may branch on.
var (
	// ErrUnauthorized: a request without the right bearer token.
	ErrUnauthorized = errors.New("unauthorized")
	// ErrBadTrigger: a request the trigger cannot read.
	ErrBadTrigger = errors.New("bad trigger request")
	// ErrUnknownTrigger: no trigger has this id (or it expired).
	ErrUnknownTrigger = errors.New("no such trigger")
	// ErrNotOnBranch: the revision is not on a configured branch's
	// first-parent chain, so it is never applied and never nooped.
	ErrNotOnBranch = errors.New("not on the first-parent chain of a configured branch")
)

// Trigger accepts requests to noop a revision or re-noop a commit, keeps
// each as a record in the triggers bucket, and hands them to the nooper
// one after the other in the order they came (Run). The nooper queues the
// runs like any other, and each agent runs one Puppet at a time, so two
// triggers never race for Puppet's lock.
type Trigger struct {
	opts    TriggerOptions
	token   [sha256.Size]byte
	log     zerolog.Logger
	metrics *triggerMetrics
	wake    chan struct{}

	mu sync.Mutex
	// pending are the ids of the queued records, oldest first.
	pending []string
}

// NewTrigger checks opts and reads the records of the bucket still
// queued or dispatched, so that Run takes them up again after a restart. Invalid options wrap
// ErrInvalidOptions.
func NewTrigger(ctx context.Context, opts TriggerOptions) (*Trigger, error) {
	switch {
	case len(opts.Token) == 0:
		return nil, fmt.Errorf("trigger: empty token: %w", ErrInvalidOptions)
	case opts.Committer == nil, opts.Nooper == nil, opts.Bucket == nil:
		return nil, fmt.Errorf("trigger: committer, nooper and bucket are required: %w", ErrInvalidOptions)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Retry <= 0 {
		opts.Retry = 2 * time.Second
	}
	if opts.QueueTimeout <= 0 {
		opts.QueueTimeout = 6 * time.Hour
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = 10 * time.Minute
	}
	m := newTriggerMetrics(opts.Registerer)
	t := &Trigger{
		opts: opts, token: sha256.Sum256(opts.Token), metrics: m, wake: make(chan struct{}, 1),
		log: opts.Log.With().Str("component", "trigger").Logger(),
	}
	queued, err := t.queued(ctx)
	if err != nil {
		return nil, err
	}
	for _, r := range queued {
		t.pending = append(t.pending, r.ID)
	}
	if len(queued) > 0 {
		t.log.Info().Int("pending", len(queued)).Msg("pending triggers taken up again")
	}
	return t, nil
}

// authorize checks the request's Authorization header: "Bearer <token>".
// The tokens' digests are compared in constant time, so neither the
// token's content nor its length leaks through timing.
func (t *Trigger) authorize(header string) error {
	got, ok := strings.CutPrefix(header, "Bearer ")
	if !ok || got == "" {
		return fmt.Errorf("%w: missing bearer token (send Authorization: Bearer <token>)", ErrUnauthorized)
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(got)))
	if subtle.ConstantTimeCompare(sum[:], t.token[:]) != 1 {
		return fmt.Errorf("%w: wrong bearer token", ErrUnauthorized)
	}
	return nil
}

// Accept checks req against the repository (and, for a re-noop, the
// nooper), stores it as a queued record and wakes Run. It returns the
// record's status. A revision the repository does not have wraps
// gitrepo.ErrUnknownRevision; one off the configured branches
// ErrNotOnBranch; a re-noop of a commit the nooper never nooped
// nooper.ErrUnknownCommit.
func (t *Trigger) Accept(ctx context.Context, req TriggerRequest) (TriggerStatus, error) {
	kind, rev := req.kind()
	if t.opts.Fetch != nil {
		// A branch head or a commit pushed a moment ago is read from the
		// remote as it is now.
		if err := t.opts.Fetch(ctx); err != nil {
			return TriggerStatus{}, fmt.Errorf("fetch the repository: %w", err)
		}
	}
	repo := t.opts.Committer.Repo()
	sha, err := repo.Resolve(rev)
	if err != nil {
		return TriggerStatus{}, err
	}
	rec := TriggerRecord{Schema: protocol.SchemaVersion, Kind: kind, Revision: rev, Commit: sha, State: TriggerQueued, Created: t.opts.Now().UTC()}
	switch kind {
	case TriggerNoop:
		if rec.Branch, err = t.branchOf(sha); err != nil {
			return TriggerStatus{}, err
		}
	case TriggerRenoop:
		doc, _, err := t.opts.Nooper.Show(ctx, sha)
		if err != nil {
			return TriggerStatus{}, err
		}
		rec.Branch = doc.Branch
	}
	if rec.ID, err = newTriggerID(); err != nil {
		return TriggerStatus{}, err
	}
	if err := t.put(ctx, &rec, 0); err != nil {
		return TriggerStatus{}, err
	}
	t.mu.Lock()
	t.pending = append(t.pending, rec.ID)
	t.mu.Unlock()
	signal(t.wake)
	t.log.Info().Str("trigger", rec.ID).Str("kind", kind).Str("revision", rev).Str("commit", sha).Msg("trigger queued")
	return rec.status(), nil
}

// branchOf returns the first configured branch whose first-parent chain
// has sha, or an error wrapping ErrNotOnBranch.
func (t *Trigger) branchOf(sha string) (string, error) {
	branches := t.opts.Committer.Branches()
	for _, b := range branches {
		on, err := t.opts.Committer.Repo().OnFirstParentChain(b, sha, FirstParentLimit)
		if errors.Is(err, gitrepo.ErrUnknownRevision) {
			continue // a configured branch the repository lacks
		}
		if err != nil {
			return "", err
		}
		if on {
			return b, nil
		}
	}
	return "", fmt.Errorf("%w: %s is not on the first-parent chain of %s (within %d commits of the tip): only those commits are applied, so only they are nooped",
		ErrNotOnBranch, protocol.Short(sha), strings.Join(branches, ", "), FirstParentLimit)
}

// Status returns where the trigger id is: its stored state once it is
// queued, ready or failed, else the nooper's view of its commit (nooping
// k of N, or ready with the review's summary). An unknown id wraps
// ErrUnknownTrigger; a nooper that cannot be asked, its error.
func (t *Trigger) Status(ctx context.Context, id string) (TriggerStatus, error) {
	if !validTriggerID(id) {
		return TriggerStatus{}, fmt.Errorf("%w: %q", ErrUnknownTrigger, id)
	}
	rec, _, err := t.get(ctx, id)
	if err != nil {
		return TriggerStatus{}, err
	}
	if rec.State == TriggerDispatched {
		var progress *review.Progress
		if progress, err = t.observe(ctx, &rec); err != nil {
			return TriggerStatus{}, err
		}
		st := rec.status()
		st.Progress = progress
		return st, nil
	}
	return rec.status(), nil
}

// observe asks the nooper where the noop of a dispatched trigger is and
// updates rec (not stored): ready with the review's summary once the noop
// is complete; failed when the nooper has not started it StartTimeout
// after the commit event; else still dispatched, with the noop's progress
// in the reason and returned. The worker hands on no later trigger of
// the commit while this one is dispatched, so a complete noop is this
// trigger's (or a later re-noop's someone asked elsewhere).
func (t *Trigger) observe(ctx context.Context, rec *TriggerRecord) (*review.Progress, error) {
	doc, _, err := t.opts.Nooper.Show(ctx, rec.Commit)
	switch {
	case isUnknownCommit(err):
		// The commit event is on its way, or the nooper refused it.
		if t.opts.Now().Sub(rec.Dispatched) > t.opts.StartTimeout {
			rec.State = TriggerFailed
			rec.Reason = fmt.Sprintf("the nooper has not started the noop of %s within %s of the commit event: does it noop branch %s? (its log says why it refused the event)",
				protocol.Short(rec.Commit), t.opts.StartTimeout, rec.Branch)
		} else {
			rec.Reason = "the commit event is published; the nooper has not started the noop yet"
		}
		return nil, nil
	case err != nil:
		return nil, err
	case doc.Complete:
		s := review.Summarize(doc.Result)
		rec.State, rec.Reason = TriggerReady, ""
		rec.Summary = &TriggerSummary{
			Hosts: s.Hosts, Answered: s.Answered, Changes: s.Changes, ChangedHosts: s.ChangedHosts,
			Errors: s.Errors, ErrorHosts: s.ErrorHosts, Text: s.String(),
		}
		return nil, nil
	default:
		rec.Reason = "nooping"
		if doc.Progress != nil {
			rec.Reason = "nooping: " + doc.Progress.String()
		}
		return doc.Progress, nil
	}
}

// status is the record's status as stored.
func (r *TriggerRecord) status() TriggerStatus {
	st := TriggerStatus{ID: r.ID, Kind: r.Kind, Revision: r.Revision, Commit: r.Commit, Branch: r.Branch,
		State: r.State, Reason: r.Reason, Summary: r.Summary, Review: "nooper show " + r.Commit, Created: r.Created}
	if !r.Dispatched.IsZero() {
		d := r.Dispatched
		st.Dispatched = &d
	}
	return st
}

// queued reads every record of the bucket still on the worker's queue
// (queued or dispatched), oldest first.
func (t *Trigger) queued(ctx context.Context) ([]TriggerRecord, error) {
	keys, err := t.opts.Bucket.Keys(ctx)
	if errors.Is(err, jetstream.ErrNoKeysFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list triggers: %w", err)
	}
	var out []TriggerRecord
	for _, key := range keys {
		rec, _, err := t.get(ctx, key)
		if errors.Is(err, ErrUnknownTrigger) {
			continue // expired meanwhile
		}
		if err != nil {
			return nil, err
		}
		if rec.State == TriggerQueued || rec.State == TriggerDispatched {
			out = append(out, rec)
		}
	}
	slices.SortStableFunc(out, func(a, b TriggerRecord) int { return a.Created.Compare(b.Created) })
	return out, nil
}

// get reads the record id and its revision in the bucket.
func (t *Trigger) get(ctx context.Context, id string) (TriggerRecord, uint64, error) {
	e, err := t.opts.Bucket.Get(ctx, id)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return TriggerRecord{}, 0, fmt.Errorf("%w: %s", ErrUnknownTrigger, id)
	}
	if err != nil {
		return TriggerRecord{}, 0, fmt.Errorf("read trigger %s: %w", id, err)
	}
	var rec TriggerRecord
	if err := bus.Unmarshal(e.Value(), &rec); err != nil {
		return TriggerRecord{}, 0, fmt.Errorf("trigger %s: %w", id, err)
	}
	return rec, e.Revision(), nil
}

// put stores rec: created when rev is 0, else updated from rev, so that
// two writers never overwrite each other blindly.
func (t *Trigger) put(ctx context.Context, rec *TriggerRecord, rev uint64) error {
	data, err := bus.Marshal(rec)
	if err != nil {
		return err
	}
	if rev == 0 {
		_, err = t.opts.Bucket.Create(ctx, rec.ID, data)
	} else {
		_, err = t.opts.Bucket.Update(ctx, rec.ID, data, rev)
	}
	if err != nil {
		return fmt.Errorf("store trigger %s: %w", rec.ID, err)
	}
	return nil
}

// newTriggerID returns 128 random bits in hex: nobody can guess another
// caller's trigger.
func newTriggerID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(b[:]), nil
}

func validTriggerID(id string) bool {
	if len(id) != 32 {
		return false
	}
	_, err := hex.DecodeString(id)
	return err == nil && strings.ToLower(id) == id
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
