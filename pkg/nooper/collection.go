package nooper

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/delta"
	"github.com/balcony-dev/balcony/pkg/protocol"
	"github.com/balcony-dev/balcony/pkg/review"
	"github.com/balcony-dev/balcony/pkg/runs"
)

// Collection states.
const (
	StateCollecting = "collecting"
	StateReady      = "ready"
)

// ErrUnknownCommit is returned for a revision the nooper has no noop of.
var ErrUnknownCommit = errors.New("no noop of this revision")

// ErrCollecting is returned by Renoop for a commit whose noop is running.
var ErrCollecting = errors.New("the commit's noop is still running")

// Collection is the noop of one commit: which (host, revision) reports it
// needs, which it has, and, once ready, the delta. It is kept in the noops
// bucket under the commit's sha, so a restarted nooper resumes it.
type Collection struct {
	Schema int             `msgpack:"schema" json:"schema"`
	Repo   string          `msgpack:"repo" json:"repo"`
	Branch string          `msgpack:"branch" json:"branch"`
	Commit protocol.Commit `msgpack:"commit" json:"commit"`
	// Chain is the commit's first-parent ancestry, nearest first, as far
	// as it is known: the parent, then the commits a host is compared with
	// when the parent did not compile there.
	Chain []string `msgpack:"chain" json:"chain"`
	State string   `msgpack:"state" json:"state"`
	Hosts []string `msgpack:"hosts" json:"hosts"`
	// LastApplied maps a host to its last applied revision, when known.
	LastApplied map[string]string `msgpack:"last_applied" json:"last_applied,omitempty"`
	// AppliedAt maps a host to when its last apply was recorded, as the
	// collection last took it from the hosts bucket (hosts with none are
	// left out): the host's reports taken before it are stale, never
	// used here, and a later apply re-noops the host (applied.go).
	AppliedAt map[string]time.Time `msgpack:"applied_at" json:"applied_at,omitempty"`
	// Needs are the reports the collection waits for, per host and
	// revision. They are stored per host in the noop_needs bucket, not in
	// the record (which would grow with the fleet and be rewritten on
	// every run): reading a collection with its needs (Load) fills them
	// in. Records stored before that kept them here.
	Needs []Need `msgpack:"needs" json:"needs,omitempty"`
	// index finds a need by host and revision; rebuilt when Needs grows.
	index    map[needKey]int
	Started  time.Time `msgpack:"started" json:"started"`
	Deadline time.Time `msgpack:"deadline" json:"deadline"`
	Finished time.Time `msgpack:"finished" json:"finished,omitempty"`
	// FirstDeadline is the deadline of the first runs of the needs begin
	// gave the hosts (the commit, its parent, the last applied
	// revision), once they are asked. Those runs are not stored per host:
	// their ids follow from RunTag, and a restarted nooper takes them as
	// asked (withNeeds). Only what differs (a run asked again, adopted,
	// a baseline extended, a host not asked) is (noop_needs).
	FirstDeadline time.Time `msgpack:"first_deadline" json:"first_deadline,omitempty"`
	// Generation counts re-noops.
	Generation int `msgpack:"generation" json:"generation"`
	// RunTag is unique to each collection and each re-noop and ends its
	// run ids, so that the server's duplicate window never drops them as
	// repeats of earlier runs (of this commit, or of another commit's
	// re-noop), and so that nobody can guess them ahead of the request.
	// Empty in collections stored before every collection had one.
	RunTag string        `msgpack:"run_tag" json:"run_tag,omitempty"`
	Result *delta.Result `msgpack:"result" json:"result,omitempty"`
	// ResultObject names the object of the noop_results object store
	// that holds Result when the record with it would exceed a noops
	// value (the bus's payload limit); the noops record then leaves
	// Result out. Reading the collection fills Result in again.
	ResultObject string `msgpack:"result_object" json:"result_object,omitempty"`
	// Announced is set once noop.ready was published for Result.
	Announced bool `msgpack:"announced" json:"announced"`

	// unsaved is set while the finished Result is not stored yet: it is
	// stored before it is announced, and stored again, never recomputed
	// nor re-announced, when that failed.
	unsaved bool
	// announcedID is the noop.ready message id this process published
	// for Result: a failed save of Announced is retried without
	// announcing again.
	announcedID string
	// starting is set while begin stores the record: steps wait.
	starting bool
	// looked is set once the needs never asked were looked for among
	// the stored reports (lookUp).
	looked bool
	// unstored are the hosts whose needs changed since they were stored.
	unstored map[string]bool
}

// header is a copy of c's record without its needs, for storing or
// reading outside the lock.
func (c *Collection) header() *Collection {
	h := *c
	h.Needs, h.index, h.unstored = nil, nil, nil
	h.Hosts, h.Chain = slices.Clone(c.Hosts), slices.Clone(c.Chain)
	h.LastApplied, h.AppliedAt = maps.Clone(c.LastApplied), maps.Clone(c.AppliedAt)
	return &h
}

// dirty marks host's needs as changed since they were stored.
func (c *Collection) dirty(host string) {
	if c.unstored == nil {
		c.unstored = map[string]bool{}
	}
	c.unstored[host] = true
}

// takeDirty returns the needs of the hosts marked dirty, to store, and
// clears the marks.
func (c *Collection) takeDirty() []hostNeeds {
	if len(c.unstored) == 0 {
		return nil
	}
	byHost := make(map[string][]Need, len(c.unstored))
	for _, need := range c.Needs {
		if c.unstored[need.Host] {
			byHost[need.Host] = append(byHost[need.Host], need)
		}
	}
	out := make([]hostNeeds, 0, len(c.unstored))
	for host := range c.unstored {
		out = append(out, hostNeeds{sha: c.Commit.SHA, host: host, stored: storedNeeds{RunTag: c.RunTag, Needs: byHost[host]}})
	}
	clear(c.unstored)
	return out
}

// defaultNeeds are the needs begin gives host: the commit, its first
// parent, and the host's last applied revision.
func (c *Collection) defaultNeeds(host string) []Need {
	needs := []Need{{Host: host, Revision: c.Commit.SHA}}
	if p := c.Parent(); p != "" {
		needs = append(needs, Need{Host: host, Revision: p})
	}
	if rev := c.LastApplied[host]; rev != "" && rev != c.Commit.SHA && rev != c.Parent() {
		needs = append(needs, Need{Host: host, Revision: rev})
	}
	return needs
}

// Need is one report the collection waits for (the shared run
// machinery's need: the host, the revision, every run asked for it).
type Need = runs.Need

// Parent is the commit's first parent, empty for a root commit.
func (c *Collection) Parent() string {
	if len(c.Commit.Parents) == 0 {
		return ""
	}
	return c.Commit.Parents[0]
}

// Progress says how many of the collection's hosts have answered every
// noop asked of them, and, once at most review.MissingListed remain, which
// have not.
func (c *Collection) Progress() review.Progress {
	waiting := make(map[string]bool, len(c.Hosts))
	for _, need := range c.Needs {
		if !need.Answered {
			waiting[need.Host] = true
		}
	}
	p := review.Progress{Answered: len(c.Hosts) - len(waiting), Hosts: len(c.Hosts)}
	if len(waiting) <= review.MissingListed {
		for _, h := range c.Hosts {
			if waiting[h] {
				p.Missing = append(p.Missing, h)
			}
		}
	}
	return p
}

// current tells whether r, a stored report of need's host and revision,
// can stand for need: it is the answer to one of need's own runs (asked
// once the collection knew of the host's last apply), or the host took it
// after that apply. AppliedAt is the applier's clock and FinishedAt the
// host's: a report taken just after an apply, by a host whose clock is
// behind, is asked again, never the reverse within the skew.
func (c *Collection) current(need *Need, r *protocol.RunResult) bool {
	at := c.AppliedAt[r.Host]
	return (need != nil && need.Asked(r.RunID)) || at.IsZero() || r.FinishedAt.After(at)
}

// needKey indexes Needs without building a string per lookup: steps look
// up every host's needs.
type needKey struct{ host, rev string }

func (c *Collection) need(host, rev string) *Need {
	if len(c.index) != len(c.Needs) {
		c.index = make(map[needKey]int, len(c.Needs))
		for i, n := range c.Needs {
			c.index[needKey{n.Host, n.Revision}] = i
		}
	}
	if i, ok := c.index[needKey{host, rev}]; ok {
		return &c.Needs[i]
	}
	return nil
}

// reportKey is the key of a host's report of a revision in the reports
// bucket.
func reportKey(rev, host string) string { return rev + "." + host }

// ResultsBucket is the nooper's object store (streams.yaml) for results
// too large for a noops value. Only the nooper reads it: others ask its
// collection service.
const ResultsBucket = "noop_results"

// store reads and writes collections and reports.
type store struct {
	noops   jetstream.KeyValue
	needs   jetstream.KeyValue
	reports jetstream.KeyValue
	commits jetstream.KeyValue
	hosts   jetstream.KeyValue
	// results holds the results too large for noops (large.go).
	results objects
	// limit is the largest noops value: the bus's payload limit.
	limit int
}

func openStore(ctx context.Context, js jetstream.JetStream) (*store, error) {
	s := store{limit: bus.PayloadLimitOf(js.Conn().MaxPayload()), results: objects{js: js}}
	for name, kv := range map[string]*jetstream.KeyValue{"noops": &s.noops, NeedsBucket: &s.needs, "reports": &s.reports, "commits": &s.commits, "hosts": &s.hosts} {
		b, err := js.KeyValue(ctx, name)
		if err != nil {
			return nil, fmt.Errorf("bucket %s: %w", name, err)
		}
		*kv = b
	}
	return &s, nil
}

func (s *store) collection(ctx context.Context, sha string) (*Collection, error) {
	// A result replaced between reading the record and its object is
	// read again from the new record.
	for try := 1; ; try++ {
		c, err := s.record(ctx, sha)
		if err != nil || c.ResultObject == "" {
			return c, err
		}
		c.Result, err = s.largeResult(ctx, c.ResultObject)
		if errors.Is(err, jetstream.ErrObjectNotFound) && try < 3 {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("result of %s: %w", sha, err)
		}
		return c, nil
	}
}

// record reads the noops record of sha, without its result when that is
// in the object store.
func (s *store) record(ctx context.Context, sha string) (*Collection, error) {
	e, err := s.noops.Get(ctx, sha)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, fmt.Errorf("%w: %s", ErrUnknownCommit, sha)
	}
	if err != nil {
		return nil, fmt.Errorf("read noop of %s: %w", sha, err)
	}
	var c Collection
	if err := bus.Unmarshal(e.Value(), &c); err != nil {
		// %v: a bad stored record must not read as a malformed message,
		// which would reject the commit event being handled.
		return nil, fmt.Errorf("stored noop of %s is unreadable: %v", sha, err)
	}
	return &c, nil
}

// saveCollection stores c in the noops bucket; its result goes to the
// object store when the record would not fit in a value (large.go).
//
// The record leaves the needs out: they are stored per host (saveNeeds).
func (s *store) saveCollection(ctx context.Context, c *Collection) error {
	rec := c
	if len(c.Needs) > 0 {
		rec = c.header()
	}
	rec.Schema = protocol.SchemaVersion
	old := c.ResultObject
	data, err := s.encode(ctx, rec)
	if err != nil {
		return fmt.Errorf("save noop of %s: %w", c.Commit.SHA, err)
	}
	if _, err := s.noops.Put(ctx, c.Commit.SHA, data); err != nil {
		return fmt.Errorf("save noop of %s: %w", c.Commit.SHA, err)
	}
	c.ResultObject = rec.ResultObject
	s.dropResult(ctx, old, c.ResultObject)
	return nil
}

// withNeeds fills in c's needs: each host's stored needs of c's run tag,
// or those begin gave it when none are (a host never asked, its reports
// reused, or asked before a re-noop). A record stored with its needs
// keeps them.
func (s *store) withNeeds(ctx context.Context, c *Collection) error {
	if len(c.Needs) > 0 {
		return nil
	}
	stored, err := s.loadNeeds(ctx, c.Commit.SHA)
	if err != nil {
		return err
	}
	for _, host := range c.Hosts {
		if st, ok := stored[host]; ok && st.RunTag == c.RunTag && len(st.Needs) > 0 {
			c.Needs = append(c.Needs, st.Needs...)
			continue
		}
		for _, need := range c.defaultNeeds(host) {
			if !c.FirstDeadline.IsZero() {
				id := runs.RunID(protocol.KindNoop, need.Revision, host, 1, c.RunTag)
				need.RunID, need.Runs, need.Attempts, need.Deadline = id, []string{id}, 1, c.FirstDeadline
			}
			c.Needs = append(c.Needs, need)
		}
	}
	c.index = nil
	return nil
}

// firstAsk tells whether the run req of host's need is the first of a
// need begin gave it, whose record is FirstDeadline.
func (c *Collection) firstAsk(req protocol.RunRequest) bool {
	if req.Kind != protocol.KindNoop || req.ID != runs.RunID(req.Kind, req.Revision, req.Host, 1, c.RunTag) {
		return false
	}
	return slices.ContainsFunc(c.defaultNeeds(req.Host), func(n Need) bool { return n.Revision == req.Revision })
}

// collecting lists the commits whose collection is not finished, or
// finished but not announced. A record
// that cannot be read is logged and skipped: one bad record must not keep
// the nooper from starting.
func (s *store) collecting(ctx context.Context, log zerolog.Logger) ([]*Collection, error) {
	keys, err := s.noops.ListKeys(ctx)
	if err != nil {
		return nil, err
	}
	var out []*Collection
	for k := range keys.Keys() {
		// The record first: a finished noop's result, perhaps large and
		// in the object store, is read only when it is resumed.
		c, err := s.record(ctx, k)
		if err == nil && (c.State == StateCollecting || c.State == StateReady && !c.Announced) {
			c, err = s.collection(ctx, k)
			if err == nil {
				err = s.withNeeds(ctx, c)
			}
			if err == nil {
				out = append(out, c)
			}
		}
		if err != nil {
			log.Warn().Err(err).Str("key", k).Msg("skipping an unreadable noop record")
		}
	}
	return out, nil
}

// resolve finds the full sha of a stored noop from a prefix.
func (s *store) resolve(ctx context.Context, rev string) (string, error) {
	if _, err := s.noops.Get(ctx, rev); err == nil {
		return rev, nil
	}
	keys, err := s.noops.ListKeys(ctx)
	if err != nil {
		if errors.Is(err, jetstream.ErrNoKeysFound) {
			return "", fmt.Errorf("%w: %s", ErrUnknownCommit, rev)
		}
		return "", err
	}
	var found []string
	for k := range keys.Keys() {
		if strings.HasPrefix(k, rev) {
			found = append(found, k)
		}
	}
	switch len(found) {
	case 0:
		return "", fmt.Errorf("%w: %s", ErrUnknownCommit, rev)
	case 1:
		return found[0], nil
	default:
		return "", fmt.Errorf("revision %s is ambiguous: %s", rev, strings.Join(found, ", "))
	}
}

func (s *store) report(ctx context.Context, rev, host string) (*protocol.RunResult, error) {
	e, err := s.reports.Get(ctx, reportKey(rev, host))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var r protocol.RunResult
	if err := bus.Unmarshal(e.Value(), &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// forgetReport deletes a stored report, so that it is asked again.
func (s *store) forgetReport(ctx context.Context, rev, host string) error {
	err := s.reports.Delete(ctx, reportKey(rev, host))
	if err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("forget report of %s on %s: %w", rev, host, err)
	}
	return nil
}

func (s *store) saveReport(ctx context.Context, r *protocol.RunResult) error {
	data, err := bus.Marshal(r)
	if err != nil {
		return err
	}
	if _, err := s.reports.Put(ctx, reportKey(r.Revision, r.Host), data); err != nil {
		return fmt.Errorf("store report of %s on %s: %w", r.Revision, r.Host, err)
	}
	return nil
}

// hasCollection tells whether sha has a stored noop, without reading it.
func (s *store) hasCollection(ctx context.Context, sha string) (bool, error) {
	_, err := s.noops.Get(ctx, sha)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read noop of %s: %w", sha, err)
	}
	return true, nil
}

// storedCommit is a commit as the nooper read it from the repository (never
// from a commit event), kept in the commits bucket.
type storedCommit struct {
	Schema int             `msgpack:"schema"`
	Commit protocol.Commit `msgpack:"commit"`
}

func (s *store) saveCommit(ctx context.Context, c protocol.Commit) error {
	data, err := bus.Marshal(storedCommit{Schema: protocol.SchemaVersion, Commit: c})
	if err != nil {
		return err
	}
	_, err = s.commits.Put(ctx, c.SHA, data)
	return err
}

// liveHosts lists the registered hosts and their last applied revisions,
// read with one watch of the hosts bucket.
func (s *store) liveHosts(ctx context.Context) ([]protocol.HostInfo, error) {
	var hosts []protocol.HostInfo
	err := each(ctx, s.hosts, ">", func(key string, value []byte) error {
		var h protocol.HostInfo
		if bus.Unmarshal(value, &h) == nil && bus.ValidHost(h.Host) == nil && h.Host == key {
			hosts = append(hosts, h)
		}
		return nil
	})
	return hosts, err
}
