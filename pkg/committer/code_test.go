package committer_test

import (
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/balcony-dev/balcony/pkg/bus/bustest"
	"github.com/balcony-dev/balcony/pkg/codebus"
	"github.com/balcony-dev/balcony/pkg/committer"
	"github.com/balcony-dev/balcony/pkg/gitrepo"
	"github.com/balcony-dev/balcony/pkg/gitrepo/gittest"
	"github.com/balcony-dev/balcony/pkg/protocol"
)

// codeChecker is a Publisher that records, for each event, whether the
// code of its revision was in the store when the event went out.
type codeChecker struct {
	store   jetstream.ObjectStore
	present map[string]string // revision → the object found
}

func (p *codeChecker) PublishCommits(ctx context.Context, ev protocol.CommitEvent) error {
	for _, kind := range []string{codebus.KindPack, codebus.KindFull} {
		if _, err := p.store.GetInfo(ctx, codebus.ObjectName(kind, ev.New)); err == nil {
			p.present[ev.New] = kind
			return nil
		}
	}
	p.present[ev.New] = "none"
	return nil
}

// Every event's code is in the store before the event goes out: a full
// pack for the first, a pack since it for the next; an agent with no git
// access then has the revision.
func TestCodeIsPublishedBeforeItsEvent(t *testing.T) {
	conn := bustest.Start(t)
	ctx := context.Background()
	store, err := conn.JS.ObjectStore(ctx, codebus.Bucket)
	if err != nil {
		t.Fatal(err)
	}
	f := gittest.New(t)
	pub := &codeChecker{store: store, present: map[string]string{}}
	c, err := committer.New(committer.Options{
		RepoName: "puppet", RepoPath: f.Bare, Log: zerolog.New(zerolog.NewTestWriter(t)),
		Code: committer.CodeOnBus(conn.JS, codebus.PublisherOptions{}),
	}, pub)
	if err != nil {
		t.Fatal(err)
	}
	a := f.Commit("A", map[string]string{"manifests/site.pp": "node default {}\n"})
	f.Push("main")
	if _, err := c.HandleUpdates(ctx, []committer.RefUpdate{{Old: zeros, New: a, Ref: "refs/heads/main"}}); err != nil {
		t.Fatal(err)
	}
	b := f.Commit("B", map[string]string{"manifests/site.pp": "node default { include b }\n"})
	f.Push("main")
	if _, err := c.HandleUpdates(ctx, []committer.RefUpdate{{Old: a, New: b, Ref: "refs/heads/main"}}); err != nil {
		t.Fatal(err)
	}
	if pub.present[a] != codebus.KindFull || pub.present[b] != codebus.KindPack {
		t.Errorf("code present at each event: %v, want a full pack for A and a pack for B", pub.present)
	}
	info, err := store.GetInfo(ctx, codebus.ObjectName(codebus.KindPack, b))
	if err != nil {
		t.Fatal(err)
	}
	if info.Metadata["balcony-bases"] != a {
		t.Errorf("B's pack is relative to %q, want A", info.Metadata["balcony-bases"])
	}

	dir := filepath.Join(t.TempDir(), "agent.git")
	if out, err := exec.Command("git", "init", "--quiet", "--bare", dir).CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	agent, err := gitrepo.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := codebus.NewFetcher(store, agent, codebus.FetcherOptions{}).Fetch(ctx, b); err != nil {
		t.Fatalf("an agent without git fetches B: %v", err)
	}
	if got, err := agent.Resolve(b); err != nil || got != b {
		t.Errorf("agent's repository resolves B to %q, %v", got, err)
	}
}

type failingCode struct{}

func (failingCode) Publish(context.Context, string, string) (codebus.Info, error) {
	return codebus.Info{}, errors.New("object store unavailable")
}

// A revision whose code cannot be stored still gets its event, and the
// failure is counted.
func TestCodeFailureKeepsTheEvent(t *testing.T) {
	f := gittest.New(t)
	pub := &fakePublisher{}
	reg := prometheus.NewRegistry()
	c, err := committer.New(committer.Options{
		RepoName: "puppet", RepoPath: f.Bare, Registerer: reg,
		Log:  zerolog.New(zerolog.NewTestWriter(t)),
		Code: func(*gitrepo.Repo) committer.CodePublisher { return failingCode{} },
	}, pub)
	if err != nil {
		t.Fatal(err)
	}
	a := f.Commit("A", nil)
	f.Push("main")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if n, err := c.HandleUpdates(ctx, []committer.RefUpdate{{Old: zeros, New: a, Ref: "refs/heads/main"}}); err != nil || n != 1 {
		t.Fatalf("published %d, %v; want the event despite the code", n, err)
	}
	if evs := pub.take(); len(evs) != 1 || evs[0].New != a {
		t.Errorf("events %v, want A's", summarize(evs))
	}
	if got := counterValue(t, reg, "balcony_committer_code_failures_total"); got != 1 {
		t.Errorf("code failures counted %v, want 1", got)
	}
}

// counterValue is the value of the one series of counter family name.
func counterValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, fam := range families {
		if fam.GetName() == name && len(fam.GetMetric()) == 1 {
			return fam.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("no single series of %s", name)
	return 0
}
