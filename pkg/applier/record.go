package applier

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/protocol"
	"github.com/balcony-dev/balcony/pkg/rollout"
)

// Rollout states beyond what the Progress says.
const (
	// StateCancelled: an operator ended the rollout (`applier cancel`);
	// the next target starts a new one.
	StateCancelled = "cancelled"
)

// Rollout is one staged apply of one target revision: what is kept in the
// rollout bucket under CurrentKey, rewritten (compare-and-set) after every
// change, so a restarted applier resumes it where it was.
type Rollout struct {
	Schema int `msgpack:"schema" json:"-"`
	// ID is unique to the rollout and ends its run ids.
	ID     string          `msgpack:"id" json:"id"`
	Branch string          `msgpack:"branch" json:"branch"`
	Target protocol.Commit `msgpack:"target" json:"target"`
	// Base is the oldest last applied revision of the planned hosts.
	Base string `msgpack:"base" json:"base"`
	// Range is every commit after the oldest last applied revision of the
	// planned hosts up to Target, oldest first, with its groups' digests
	// as the approver showed them approved when the rollout started.
	Range []protocol.ApprovedCommit `msgpack:"range" json:"range"`
	// From is each planned host's last applied revision when it was
	// planned: its apply covers the commits of Range after it.
	From     map[string]string `msgpack:"from" json:"from"`
	Plan     rollout.Plan      `msgpack:"plan" json:"plan"`
	Progress rollout.Progress  `msgpack:"progress" json:"progress"`
	// Results are the details of each ended host: reconciliation's
	// findings, approved changes that did not happen.
	Results map[string]HostResult `msgpack:"results" json:"results,omitempty"`
	// NotPlanned are the hosts left out of the plan, with why (no
	// baseline, ahead of the target, not on the branch).
	NotPlanned map[string]string `msgpack:"not_planned" json:"not_planned,omitempty"`
	// Announced are the ids of the events already announced.
	Announced map[string]bool `msgpack:"announced" json:"-"`
	// State is StateCancelled once cancelled; empty otherwise (the
	// Progress says running, halted or complete).
	State       string    `msgpack:"state" json:"state,omitempty"`
	CancelledBy string    `msgpack:"cancelled_by" json:"cancelled_by,omitempty"`
	Created     time.Time `msgpack:"created" json:"created"`
	Updated     time.Time `msgpack:"updated" json:"updated"`
}

// Applies tells whether r applies sha: its target or a commit of its
// range.
func (r *Rollout) Applies(sha string) bool {
	if r.Target.SHA == sha {
		return true
	}
	for _, c := range r.Range {
		if c.SHA == sha {
			return true
		}
	}
	return false
}

// HostResult is what a host's apply came to beyond its state.
type HostResult struct {
	Outcome string `msgpack:"outcome" json:"outcome"`
	// Missing lists approved changes the apply did not make.
	Missing string `msgpack:"missing" json:"missing,omitempty"`
	// PuppetSeconds is the apply's Puppet time.
	PuppetSeconds float64 `msgpack:"puppet_seconds" json:"puppet_seconds,omitempty"`
}

// Over tells whether the rollout takes no more action: complete or
// cancelled.
func (r *Rollout) Over() bool {
	return r.State == StateCancelled || !r.Progress.Completed.IsZero()
}

// Lock is a host an operator locked: no rollout applies it.
type Lock struct {
	Schema int       `msgpack:"schema" json:"-"`
	Host   string    `msgpack:"host" json:"host"`
	Reason string    `msgpack:"reason" json:"reason"`
	By     string    `msgpack:"by" json:"by"`
	At     time.Time `msgpack:"at" json:"at"`
}

// Keys of the rollout bucket.
const (
	CurrentKey = "current"
	lockPrefix = "lock."
)

// store reads and writes the applier's own bucket.
type store struct {
	kv jetstream.KeyValue
	// rev is the revision of the current rollout as last read or
	// written: writes are compare-and-set on it, so two appliers never
	// both drive a rollout.
	rev uint64
}

// ErrConflict is returned when the current rollout was written by someone
// else since this applier read it: another applier is running.
var ErrConflict = errors.New("the rollout was changed by another applier")

func (s *store) current(ctx context.Context) (*Rollout, error) {
	e, err := s.kv.Get(ctx, CurrentKey)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		s.rev = 0
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the rollout: %w", err)
	}
	var r Rollout
	if err := bus.Unmarshal(e.Value(), &r); err != nil {
		return nil, fmt.Errorf("the stored rollout is unreadable: %w", err)
	}
	s.rev = e.Revision()
	return &r, nil
}

func (s *store) save(ctx context.Context, r *Rollout) error {
	r.Schema = protocol.SchemaVersion
	data, err := bus.Marshal(r)
	if err != nil {
		return err
	}
	var rev uint64
	if s.rev == 0 {
		rev, err = s.kv.Create(ctx, CurrentKey, data)
	} else {
		rev, err = s.kv.Update(ctx, CurrentKey, data, s.rev)
	}
	if errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists) {
		return fmt.Errorf("save the rollout: %w", ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("save the rollout: %w", err)
	}
	s.rev = rev
	return nil
}

func (s *store) lock(ctx context.Context, host string) (*Lock, error) {
	e, err := s.kv.Get(ctx, lockPrefix+host)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the lock of %s: %w", host, err)
	}
	var l Lock
	if err := bus.Unmarshal(e.Value(), &l); err != nil {
		return nil, fmt.Errorf("the lock of %s is unreadable: %w", host, err)
	}
	return &l, nil
}

func (s *store) setLock(ctx context.Context, l Lock) error {
	l.Schema = protocol.SchemaVersion
	data, err := bus.Marshal(l)
	if err != nil {
		return err
	}
	if _, err := s.kv.Put(ctx, lockPrefix+l.Host, data); err != nil {
		return fmt.Errorf("lock %s: %w", l.Host, err)
	}
	return nil
}

func (s *store) unlock(ctx context.Context, host string) error {
	if err := s.kv.Delete(ctx, lockPrefix+host); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("unlock %s: %w", host, err)
	}
	return nil
}

func (s *store) locks(ctx context.Context) ([]Lock, error) {
	keys, err := s.kv.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("list locks: %w", err)
	}
	var out []Lock
	for k := range keys.Keys() {
		if len(k) <= len(lockPrefix) || k[:len(lockPrefix)] != lockPrefix {
			continue
		}
		l, err := s.lock(ctx, k[len(lockPrefix):])
		if err != nil || l == nil {
			continue
		}
		out = append(out, *l)
	}
	return out, nil
}
