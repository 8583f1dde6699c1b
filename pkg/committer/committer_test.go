package committer_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/balcony-dev/balcony/pkg/committer"
	"github.com/balcony-dev/balcony/pkg/gitrepo/gittest"
	"github.com/balcony-dev/balcony/pkg/protocol"
)

var (
	zeros = strings.Repeat("0", 40)
	now   = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
)

// fakePublisher records events; while fail is set it refuses them.
type fakePublisher struct {
	mu     sync.Mutex
	fail   error
	events []protocol.CommitEvent
}

func (p *fakePublisher) PublishCommits(ctx context.Context, ev protocol.CommitEvent) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fail != nil {
		return p.fail
	}
	p.events = append(p.events, ev)
	return nil
}

func (p *fakePublisher) setFail(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fail = err
}

// take returns the events recorded so far and forgets them.
func (p *fakePublisher) take() []protocol.CommitEvent {
	p.mu.Lock()
	defer p.mu.Unlock()
	ev := p.events
	p.events = nil
	return ev
}

// event is the part of a CommitEvent a test checks; commits by subject.
type event struct {
	branch, old, new string
	subjects         []string
}

func summarize(evs []protocol.CommitEvent) []event {
	var out []event
	for _, ev := range evs {
		e := event{branch: ev.Branch, old: ev.Old, new: ev.New}
		for _, c := range ev.Commits {
			e.subjects = append(e.subjects, c.Subject)
		}
		out = append(out, e)
	}
	return out
}

func equalEvents(a, b []event) bool {
	return slices.EqualFunc(a, b, func(x, y event) bool {
		return x.branch == y.branch && x.old == y.old && x.new == y.new && slices.Equal(x.subjects, y.subjects)
	})
}

func newCommitter(t *testing.T, f *gittest.Fixture, pub committer.Publisher, branches ...string) *committer.Committer {
	t.Helper()
	c, err := committer.New(committer.Options{
		RepoName: "puppet",
		RepoPath: f.Bare,
		Branches: branches,
		Source:   committer.SourceHook,
		Log:      zerolog.New(zerolog.NewTestWriter(t)),
		Now:      func() time.Time { return now },
	}, pub)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestHandleUpdates(t *testing.T) {
	tests := []struct {
		name     string
		branches []string
		// setup pushes to f and returns the ref updates and the events
		// expected.
		setup func(t *testing.T, f *gittest.Fixture, c *committer.Committer) ([]committer.RefUpdate, []event)
	}{
		{
			name: "merge brings side commits, parents first",
			setup: func(t *testing.T, f *gittest.Fixture, c *committer.Committer) ([]committer.RefUpdate, []event) {
				a := f.Commit("A", map[string]string{"a.pp": "a"})
				f.Push("main")
				publishAt(t, c, "main", a)
				f.Git("checkout", "--quiet", "-b", "side")
				f.Commit("S1", map[string]string{"s.pp": "1"})
				f.Commit("S2", map[string]string{"s.pp": "2"})
				f.Git("checkout", "--quiet", "main")
				f.Commit("C", map[string]string{"c.pp": "c"})
				m := f.Merge("side", "M")
				f.Push("main")
				return []committer.RefUpdate{{Old: a, New: m, Ref: "refs/heads/main"}},
					[]event{{branch: "main", old: a, new: m, subjects: []string{"S1", "S2", "C", "M"}}}
			},
		},
		{
			name:     "new branch publishes its tip only",
			branches: []string{"main", "release"},
			setup: func(t *testing.T, f *gittest.Fixture, c *committer.Committer) ([]committer.RefUpdate, []event) {
				f.Commit("A", nil)
				f.Commit("B", nil)
				b := f.Rev("HEAD")
				f.Push("main:release")
				return []committer.RefUpdate{{Old: zeros, New: b, Ref: "refs/heads/release"}},
					[]event{{branch: "release", new: b, subjects: []string{"B"}}}
			},
		},
		{
			name: "deleted branch, tag and unconfigured branch are not published",
			setup: func(t *testing.T, f *gittest.Fixture, c *committer.Committer) ([]committer.RefUpdate, []event) {
				a := f.Commit("A", nil)
				f.Git("tag", "v1")
				f.Push("main", "main:feature", "v1")
				return []committer.RefUpdate{
					{Old: a, New: zeros, Ref: "refs/heads/main"},
					{Old: zeros, New: a, Ref: "refs/tags/v1"},
					{Old: zeros, New: a, Ref: "refs/heads/feature"},
					{Old: zeros, New: a, Ref: "refs/notes/commits"},
				}, nil
			},
		},
		{
			name: "already published",
			setup: func(t *testing.T, f *gittest.Fixture, c *committer.Committer) ([]committer.RefUpdate, []event) {
				a := f.Commit("A", nil)
				f.Push("main")
				publishAt(t, c, "main", a)
				return []committer.RefUpdate{{Old: zeros, New: a, Ref: "refs/heads/main"}}, nil
			},
		},
		{
			name: "base is the published marker, not old",
			setup: func(t *testing.T, f *gittest.Fixture, c *committer.Committer) ([]committer.RefUpdate, []event) {
				a := f.Commit("A", nil)
				f.Push("main")
				publishAt(t, c, "main", a)
				b := f.Commit("B", nil)
				f.Push("main")
				cc := f.Commit("C", nil)
				f.Push("main")
				return []committer.RefUpdate{{Old: b, New: cc, Ref: "refs/heads/main"}},
					[]event{{branch: "main", old: a, new: cc, subjects: []string{"B", "C"}}}
			},
		},
		{
			name: "rewind publishes the new tip with no commits",
			setup: func(t *testing.T, f *gittest.Fixture, c *committer.Committer) ([]committer.RefUpdate, []event) {
				a := f.Commit("A", nil)
				b := f.Commit("B", nil)
				f.Push("main")
				publishAt(t, c, "main", b)
				f.Push("--force", a+":refs/heads/main")
				return []committer.RefUpdate{{Old: b, New: a, Ref: "refs/heads/main"}},
					[]event{{branch: "main", old: b, new: a}}
			},
		},
		{
			name: "first push since install uses old",
			setup: func(t *testing.T, f *gittest.Fixture, c *committer.Committer) ([]committer.RefUpdate, []event) {
				a := f.Commit("A", nil)
				f.Push("main")
				b := f.Commit("B", nil)
				f.Push("main")
				return []committer.RefUpdate{{Old: a, New: b, Ref: "refs/heads/main"}},
					[]event{{branch: "main", old: a, new: b, subjects: []string{"B"}}}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := gittest.New(t)
			pub := &fakePublisher{}
			c := newCommitter(t, f, pub, tt.branches...)
			updates, want := tt.setup(t, f, c)
			pub.take()
			n, err := c.HandleUpdates(context.Background(), updates)
			if err != nil {
				t.Fatal(err)
			}
			evs := pub.take()
			if got := summarize(evs); n != len(want) || !equalEvents(got, want) {
				t.Errorf("published %d: %+v\nwant %+v", n, got, want)
			}
			for _, ev := range evs {
				if ev.Schema != protocol.SchemaVersion || ev.Repo != "puppet" || ev.Ref != "refs/heads/"+ev.Branch ||
					ev.Source != committer.SourceHook || !ev.Time.Equal(now) {
					t.Errorf("event header %+v", ev)
				}
				if sha, ok, _ := c.Repo().Published(ev.Branch); !ok || sha != ev.New {
					t.Errorf("marker of %s = %s, want %s", ev.Branch, sha, ev.New)
				}
			}
		})
	}
}

// TestPublishFailureThenRecovery: a push made while the bus is down is
// published with the next push, in one event from the last published tip.
func TestPublishFailureThenRecovery(t *testing.T) {
	ctx := context.Background()
	f := gittest.New(t)
	pub := &fakePublisher{}
	c := newCommitter(t, f, pub)
	a := f.Commit("A", nil)
	f.Push("main")
	if _, err := c.HandleUpdates(ctx, []committer.RefUpdate{{Old: zeros, New: a, Ref: "refs/heads/main"}}); err != nil {
		t.Fatal(err)
	}
	pub.take()

	pub.setFail(context.DeadlineExceeded)
	b := f.Commit("B", nil)
	f.Push("main")
	n, err := c.HandleUpdates(ctx, []committer.RefUpdate{{Old: a, New: b, Ref: "refs/heads/main"}})
	var pe *committer.PublishError
	if n != 0 || !errors.Is(err, committer.ErrNotPublished) || !errors.As(err, &pe) ||
		!slices.Equal(pe.Branches, []string{"main"}) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("HandleUpdates with bus down = %d, %v", n, err)
	}
	if sha, _, _ := c.Repo().Published("main"); sha != a {
		t.Fatalf("marker moved to %s on failure", sha)
	}

	pub.setFail(nil)
	cc := f.Commit("C", nil)
	f.Push("main")
	if n, err := c.HandleUpdates(ctx, []committer.RefUpdate{{Old: b, New: cc, Ref: "refs/heads/main"}}); n != 1 || err != nil {
		t.Fatalf("HandleUpdates = %d, %v", n, err)
	}
	want := []event{{branch: "main", old: a, new: cc, subjects: []string{"B", "C"}}}
	if got := summarize(pub.take()); !equalEvents(got, want) {
		t.Errorf("events %+v, want %+v", got, want)
	}
}

func TestSync(t *testing.T) {
	ctx := context.Background()
	f := gittest.New(t)
	pub := &fakePublisher{}
	c := newCommitter(t, f, pub, "main", "release", "absent")
	a := f.Commit("A", nil)
	f.Push("main")
	publishAt(t, c, "main", a)
	f.Commit("B", nil)
	m := f.Commit("C", nil)
	f.Git("checkout", "--quiet", "-b", "release")
	r := f.Commit("R", nil)
	f.Push("main", "release", "release:feature")

	n, err := c.Sync(ctx)
	want := []event{
		{branch: "main", old: a, new: m, subjects: []string{"B", "C"}},
		{branch: "release", new: r, subjects: []string{"R"}},
	}
	if got := summarize(pub.take()); n != 2 || err != nil || !equalEvents(got, want) {
		t.Errorf("Sync = %d, %v: %+v\nwant %+v", n, err, got, want)
	}
	if n, err := c.Sync(ctx); n != 0 || err != nil || len(pub.take()) != 0 {
		t.Errorf("second Sync = %d, %v", n, err)
	}

	pub.setFail(errors.New("no responders"))
	f.Commit("R2", nil)
	f.Push("release")
	if n, err := c.Sync(ctx); n != 0 || !errors.Is(err, committer.ErrNotPublished) || !strings.Contains(err.Error(), "release") {
		t.Errorf("Sync with bus down = %d, %v", n, err)
	}
}

func TestNewValidates(t *testing.T) {
	f := gittest.New(t)
	tests := []struct {
		name string
		opts committer.Options
		pub  committer.Publisher
		want error
	}{
		{name: "no repo name", opts: committer.Options{RepoPath: f.Bare}, pub: &fakePublisher{}, want: committer.ErrInvalidOptions},
		{name: "dotted repo name", opts: committer.Options{RepoName: "a.b", RepoPath: f.Bare}, pub: &fakePublisher{}, want: committer.ErrInvalidOptions},
		{name: "no publisher", opts: committer.Options{RepoName: "p", RepoPath: f.Bare}, want: committer.ErrInvalidOptions},
		{name: "no repository", opts: committer.Options{RepoName: "p", RepoPath: t.TempDir()}, pub: &fakePublisher{}, want: errors.New("")},
		{name: "zero options otherwise", opts: committer.Options{RepoName: "p", RepoPath: f.Bare}, pub: &fakePublisher{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := committer.New(tt.opts, tt.pub)
			if (err == nil) != (tt.want == nil) || (tt.want != nil && tt.want.Error() != "" && !errors.Is(err, tt.want)) {
				t.Errorf("New = %v, want %v", err, tt.want)
			}
		})
	}
}

// publishAt sets branch's published marker as if sha had been published.
func publishAt(t *testing.T, c *committer.Committer, branch, sha string) {
	t.Helper()
	if err := c.Repo().SetPublished(branch, sha); err != nil {
		t.Fatal(err)
	}
}

// TestTooManyCommitsPublishesTheTip: a push past the limit is published as
// its tip alone rather than left unpublished forever.
func TestTooManyCommitsPublishesTheTip(t *testing.T) {
	f := gittest.New(t)
	base := f.Commit("base", map[string]string{"a.pp": "0"})
	f.Push("main")
	var tip string
	for i := range 3 {
		tip = f.Commit(fmt.Sprintf("c%d", i), map[string]string{"a.pp": fmt.Sprint(i + 1)})
	}
	f.Push("main")
	pub := &fakePublisher{}
	c, err := committer.New(committer.Options{RepoName: "puppet", RepoPath: f.Bare, Limit: 2}, pub)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.HandleUpdates(context.Background(), []committer.RefUpdate{{Old: base, New: tip, Ref: "refs/heads/main"}}); err != nil {
		t.Fatal(err)
	}
	evs := pub.take()
	if len(evs) != 1 || len(evs[0].Commits) != 1 || evs[0].Commits[0].SHA != tip {
		t.Fatalf("events %+v, want one with the tip alone", evs)
	}
}
