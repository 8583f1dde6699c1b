package agent_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/balcony-dev/balcony/pkg/agent"
	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/bus/bustest"
	"github.com/balcony-dev/balcony/pkg/codebus"
	"github.com/balcony-dev/balcony/pkg/gitrepo"
	"github.com/balcony-dev/balcony/pkg/gitrepo/gittest"
	"github.com/balcony-dev/balcony/pkg/metrics/metricstest"
	"github.com/balcony-dev/balcony/pkg/protocol"
	"github.com/balcony-dev/balcony/pkg/puppet"
)

// codeRig is a committer's side (a real repository whose pushes are
// published into the code object store of a real bus) and an agent's
// side with no git server: a local repository filled from the bus only.
type codeRig struct {
	srv   *bus.Conn
	f     *gittest.Fixture
	store jetstream.ObjectStore
	pub   *codebus.Publisher
	last  string // the revision published last
	dir   string // the agent's local repository
}

func newCodeRig(t *testing.T) *codeRig {
	t.Helper()
	srv := bustest.Start(t)
	r := &codeRig{srv: srv, f: gittest.New(t), dir: filepath.Join(t.TempDir(), "code.git")}
	store, err := srv.JS.ObjectStore(t.Context(), codebus.Bucket)
	if err != nil {
		t.Fatal(err)
	}
	src, err := gitrepo.Open(r.f.Bare)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = src.Close() })
	r.store, r.pub = store, codebus.NewPublisher(store, src, codebus.PublisherOptions{})
	return r
}

// push commits n changes to the motd, pushes them at once and publishes
// the new tip's code, as the committer does for one push; it returns the
// commits, oldest first.
func (r *codeRig) push(t *testing.T, n int, what string) []string {
	t.Helper()
	var shas []string
	for i := range n {
		shas = append(shas, r.f.Commit(fmt.Sprintf("%s %d", what, i), map[string]string{
			"manifests/site.pp":           motdSite(fmt.Sprintf("%s %d\n", what, i)),
			"modules/m/manifests/init.pp": "class m {}\n",
		}))
	}
	r.f.Push("main")
	tip := shas[len(shas)-1]
	if _, err := r.pub.Publish(t.Context(), tip, r.last); err != nil {
		t.Fatalf("publish %s: %v", tip, err)
	}
	r.last = tip
	return shas
}

// agentCode opens the agent's local repository (as an agent started
// anew does) and a BusCode on it.
func (r *codeRig) agentCode(t *testing.T, reg prometheus.Registerer) (*gitrepo.Repo, *agent.BusCode) {
	t.Helper()
	local, err := gitrepo.Local(r.dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = local.Close() })
	return local, agent.NewBusCode(agent.BusCodeOptions{
		Fetcher: codebus.NewFetcher(r.store, local, codebus.FetcherOptions{}),
		Local:   local, Log: zerolog.Nop(), Registerer: reg,
	})
}

func has(t *testing.T, repo *gitrepo.Repo, sha string) bool {
	t.Helper()
	_, err := repo.Commit(sha)
	if err != nil && !errors.Is(err, gitrepo.ErrUnknownRevision) {
		t.Fatal(err)
	}
	return err == nil
}

// TestAgentCatchesUpFromTheBus: an agent stopped while ten commits were
// pushed (ten pushes, ten packs) brings them all from the bus when it
// starts, before any run asks, with no git server; a commit announced
// while it runs is fetched on its event; a commit inside a push (whose
// pack is its tip's) is found through the heads.
func TestAgentCatchesUpFromTheBus(t *testing.T) {
	r := newCodeRig(t)
	first := r.push(t, 1, "first")[0]
	local, code := r.agentCode(t, nil)
	if err := code.Update(t.Context(), first); err != nil {
		t.Fatal(err)
	}
	if !has(t, local, first) {
		t.Fatal("the first revision is not in the agent's repository")
	}

	// The agent is stopped: ten pushes.
	var pushed []string
	for i := range 10 {
		pushed = append(pushed, r.push(t, 1, fmt.Sprintf("while away %d", i))...)
	}
	reg := prometheus.NewRegistry()
	local, code = r.agentCode(t, reg)
	conn := bustest.Client(t, r.srv)
	host := "beaker.example.com"
	ctx, cancel := context.WithCancel(context.Background())
	a, err := agent.New(ctx, conn, agent.Options{
		Host: host, StateDir: t.TempDir(), Executor: fakeExecutor{host: host, log: newExecLog()},
		Code: code, Commits: local, Heartbeat: time.Hour, Poll: time.Hour, Log: zerolog.Nop(),
	})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	runUntilCleanup(t, ctx, cancel, a)
	tip := pushed[len(pushed)-1]
	eventually(t, 30*time.Second, "the ten commits fetched at start", func() bool { return has(t, local, tip) })
	for _, sha := range pushed {
		c, err := local.Commit(sha)
		if err != nil {
			t.Fatalf("commit %s after the catch-up: %v", sha, err)
		}
		if _, err := local.Resolve(c.Parents[0]); err != nil {
			t.Errorf("the first parent of %s: %v", sha, err)
		}
	}
	if got := metricstest.Value(t, reg, "balcony_agent_code_fetches_total", "outcome", "fetched"); got != 1 {
		t.Errorf("fetches counted %v, want 1 (the head, with its chain of ten packs)", got)
	}
	if got := metricstest.Value(t, reg, "balcony_agent_code_bytes_total"); got <= 0 {
		t.Errorf("bytes counted %v", got)
	}

	// A push announced by its commit event is fetched at once.
	announced := r.push(t, 3, "announced")
	ev, err := bus.Marshal(protocol.CommitEvent{Schema: protocol.SchemaVersion, Repo: "puppet", Branch: "main", Old: tip, New: announced[2]})
	if err != nil {
		t.Fatal(err)
	}
	subject, _ := bus.CommitSubject("puppet")
	if err := r.srv.NC.Publish(subject, ev); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the announced push fetched", func() bool { return has(t, local, announced[2]) })

	// A commit inside a push has no pack of its own: asked for, it comes
	// with its push's tip; so does the next one asked for with it.
	inside := r.push(t, 3, "inside")
	if err := code.Update(t.Context(), inside[0], inside[1]); err != nil {
		t.Fatalf("update to commits inside a push: %v", err)
	}
	for _, sha := range inside[:2] {
		if !has(t, local, sha) {
			t.Errorf("commit %s inside a push is not in the agent's repository", sha)
		}
	}
}

// neverPuppet fails the test if Puppet is run.
type neverPuppet struct{ t *testing.T }

func (p neverPuppet) Run(context.Context, string, bool) (*puppet.Result, error) {
	p.t.Error("Puppet ran on code that did not verify")
	return nil, errors.New("must not run")
}

// TestTamperedCodeFailsTheRun: a revision whose pack on the bus is not
// its code is refused: the noop fails with why, Puppet never runs, and
// nothing of it is kept; the genuine pack put back is taken.
func TestTamperedCodeFailsTheRun(t *testing.T) {
	r := newCodeRig(t)
	base := r.push(t, 1, "base")[0]
	local, code := r.agentCode(t, nil)
	if err := code.Update(t.Context(), base); err != nil {
		t.Fatal(err)
	}
	target := r.push(t, 1, "target")[0]
	name := codebus.ObjectName(codebus.KindPack, target)
	info, err := r.store.GetInfo(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	genuine, err := r.store.GetBytes(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	put := func(data []byte) {
		t.Helper()
		meta := jetstream.ObjectMeta{Name: name, Metadata: info.Metadata}
		if _, err := r.store.Put(t.Context(), meta, bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
	}
	// What a writer that got past the permissions would put: bytes that
	// are not the revision's, under its name and metadata.
	tampered := bytes.Clone(genuine)
	tampered[len(tampered)/2] ^= 0xff
	put(tampered)

	exec := &agent.PuppetExecutor{
		Host: "beaker.example.com", Checkouts: gitrepo.NewCheckoutCache(local, t.TempDir(), 2),
		Puppet: neverPuppet{t}, Code: code,
	}
	res := exec.Execute(t.Context(), protocol.RunRequest{ID: "n1", Kind: protocol.KindNoop, Host: "beaker.example.com", Revision: target})
	if res.Outcome != protocol.OutcomeFailed {
		t.Fatalf("outcome %s, want failed", res.Outcome)
	}
	if errs := strings.Join(res.Report.Errors, "\n"); !strings.Contains(errs, "code does not verify") || !strings.Contains(errs, target) {
		t.Errorf("the failed run's errors do not say the code of %s did not verify:\n%s", target, errs)
	}
	if has(t, local, target) {
		t.Error("the tampered revision is in the agent's repository")
	}

	put(genuine)
	if err := code.Update(t.Context(), target); err != nil {
		t.Fatalf("the genuine pack put back: %v", err)
	}
	if !has(t, local, target) {
		t.Error("the genuine revision was not taken")
	}
}
