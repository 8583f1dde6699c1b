package chat

import (
	"sort"
	"time"

	"github.com/balcony-dev/balcony/pkg/protocol"
)

// Item is one event off the EVENTS stream, with its stream sequence: what
// the bridge acknowledges once the line that covers it is sent.
type Item struct {
	Seq   uint64
	Event protocol.Event
}

// Batch is the events one line announces: all of one type and commit.
type Batch struct {
	Type, Commit string
	// Items are in the order they came.
	Items []Item
	due   time.Time
}

// Last is the batch's latest event.
func (b *Batch) Last() protocol.Event { return b.Items[len(b.Items)-1].Event }

// Coalescer turns a flood of events into at most one line per event type
// and commit per Window, and one progress line per commit per
// ProgressEvery. It is not safe for concurrent use: one goroutine owns it.
type Coalescer struct {
	// Window is how long the first event of a type and commit waits for
	// others to share its line.
	Window time.Duration
	// ProgressEvery spaces a commit's progress lines.
	ProgressEvery time.Duration

	pending      map[batchKey]*Batch
	lastProgress map[string]time.Time
}

type batchKey struct{ typ, commit string }

// NewCoalescer returns an empty Coalescer.
func NewCoalescer(window, progressEvery time.Duration) *Coalescer {
	return &Coalescer{Window: window, ProgressEvery: progressEvery,
		pending: map[batchKey]*Batch{}, lastProgress: map[string]time.Time{}}
}

// Add takes it in at now. It returns the items done without a line: it
// itself when its type is not announced, or a progress batch a finished
// noop made moot. The caller acknowledges those.
func (c *Coalescer) Add(it Item, now time.Time) (done []Item) {
	ev := it.Event
	switch Classify(ev.Type) {
	case Skip:
		return []Item{it}
	case Throttled:
	case Announced:
		if ev.Type == "noop.ready" {
			// The noop is over: its progress no longer matters.
			k := batchKey{"noop.progress", ev.Commit}
			if b, ok := c.pending[k]; ok {
				done = append(done, b.Items...)
				delete(c.pending, k)
			}
			delete(c.lastProgress, ev.Commit)
		}
	}
	k := batchKey{ev.Type, ev.Commit}
	b, ok := c.pending[k]
	if !ok {
		b = &Batch{Type: ev.Type, Commit: ev.Commit, due: now.Add(c.Window)}
		if Classify(ev.Type) == Throttled {
			if last, ok := c.lastProgress[ev.Commit]; ok && last.Add(c.ProgressEvery).After(b.due) {
				b.due = last.Add(c.ProgressEvery)
			}
		}
		c.pending[k] = b
	}
	b.Items = append(b.Items, it)
	return done
}

// Due removes and returns the batches whose time has come at now, in the
// order of their first events.
func (c *Coalescer) Due(now time.Time) []*Batch {
	var out []*Batch
	for k, b := range c.pending {
		if !b.due.After(now) {
			out = append(out, b)
			delete(c.pending, k)
		}
	}
	for commit, at := range c.lastProgress {
		// Forget quiet commits: the map stays as small as what runs.
		if now.Sub(at) > 10*c.ProgressEvery+time.Minute {
			delete(c.lastProgress, commit)
		}
	}
	sortBatches(out)
	return out
}

// Flush removes and returns every pending batch, due or not: what a
// stopping bridge sends before it acknowledges.
func (c *Coalescer) Flush() []*Batch {
	out := make([]*Batch, 0, len(c.pending))
	for k, b := range c.pending {
		out = append(out, b)
		delete(c.pending, k)
	}
	sortBatches(out)
	return out
}

// Sent records that b's line went out at now, for the progress pace.
func (c *Coalescer) Sent(b *Batch, now time.Time) {
	if Classify(b.Type) == Throttled {
		c.lastProgress[b.Commit] = now
	}
}

// Next is when the earliest pending batch is due; false when none is.
func (c *Coalescer) Next() (time.Time, bool) {
	var next time.Time
	for _, b := range c.pending {
		if next.IsZero() || b.due.Before(next) {
			next = b.due
		}
	}
	return next, !next.IsZero()
}

// Pending counts the items waiting in batches.
func (c *Coalescer) Pending() int {
	n := 0
	for _, b := range c.pending {
		n += len(b.Items)
	}
	return n
}

func sortBatches(bs []*Batch) {
	sort.Slice(bs, func(i, j int) bool { return bs[i].Items[0].Seq < bs[j].Items[0].Seq })
}

// Class says how an event type reaches the channel.
type Class int

const (
	// Skip: no line (per-host noise, rejections, milestones folded into
	// others).
	Skip Class = iota
	// Announced: a line per type and commit.
	Announced
	// Throttled: a line per commit at most every ProgressEvery.
	Throttled
)

// announced are the event types worth a line.
var announced = map[string]Class{
	"noop.started": Announced, "noop.progress": Throttled, "noop.ready": Announced,
	"approval.needed": Announced, "approval.granted": Announced, "approval.lapsed": Announced,
	"approval.complete": Announced, "approval.revoked": Announced,
	"apply.started": Announced, "apply.set.done": Announced, "apply.halted": Announced,
	"apply.resumed": Announced, "apply.cancelled": Announced, "apply.complete": Announced,
	"apply.host.failed": Announced,
}

// Classify says how events of type typ reach the channel. run.* (one per
// host and run), rejected.* (malformed messages, for the logs and
// metrics), apply.set.started, apply.promoted and the hosts that applied
// or were skipped are skipped: the set's and the rollout's lines say it.
func Classify(typ string) Class {
	return announced[typ] // Skip when absent
}
