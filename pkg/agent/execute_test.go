package agent_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/balcony-dev/balcony/pkg/agent"
	"github.com/balcony-dev/balcony/pkg/gitrepo"
	"github.com/balcony-dev/balcony/pkg/gitrepo/gittest"
	"github.com/balcony-dev/balcony/pkg/protocol"
	"github.com/balcony-dev/balcony/pkg/puppet"
)

// requireRealPuppet skips a test that runs the real Puppet when it is not
// installed, except under CI, where it must be.
func requireRealPuppet(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("puppet"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("puppet is required under CI: %v", err)
		}
		t.Skip("puppet not installed")
	}
}

const execHost = "fozzie.example.com"

// The code repository: a motd under the host's balcony_root, then a
// revision that does not compile.
const (
	goodSite = `node default {
  file { "${facts['balcony_root']}/etc/motd":
    content => "hello\n",
  }
}
`
	boomSite = `node default {
  fail("boom")
}
`
)

// countingPuppet counts the runs it passes on to the real Runner.
type countingPuppet struct {
	agent.PuppetRunner
	runs atomic.Int32
}

func (c *countingPuppet) Run(ctx context.Context, codeDir string, noop bool) (*puppet.Result, error) {
	c.runs.Add(1)
	return c.PuppetRunner.Run(ctx, codeDir, noop)
}

// execRig is a PuppetExecutor on real git, real checkouts and real Puppet.
type execRig struct {
	exec      *agent.PuppetExecutor
	puppet    *countingPuppet
	fetches   atomic.Int32
	root      string // the simulated host's root, the balcony_root fact
	checkouts string // where the checkouts live
	good, bad string // revisions
	// nodes has its node file in nodes/, as its environment.conf says;
	// badConf has an environment.conf Puppet cannot parse.
	nodes, badConf string
	// secrets asks for noop => false and holds secrets (secretsSite).
	secrets string
	scratch string // Puppet's scratch directory
}

// newExecRig builds the repository and the executor. stripRoot sets the
// executor's Root to the balcony_root fact, as `agent --root` does.
func newExecRig(t *testing.T, stripRoot bool) *execRig {
	t.Helper()
	requireRealPuppet(t)
	f := gittest.New(t)
	g := &execRig{
		root:      filepath.Join(t.TempDir(), "root"),
		checkouts: filepath.Join(t.TempDir(), "checkouts"),
		scratch:   t.TempDir(),
	}
	g.good = f.Commit("motd", map[string]string{"manifests/site.pp": goodSite})
	g.bad = f.Commit("boom", map[string]string{"manifests/site.pp": boomSite})
	g.nodes = f.Commit("node files in nodes/", map[string]string{
		"environment.conf": "manifest = nodes\n", "nodes/site.pp": goodSite,
	})
	g.badConf = f.Commit("a broken environment.conf", map[string]string{"environment.conf": "manifest nodes\n"})
	g.secrets = f.Commit("noop => false and secrets", map[string]string{"manifests/site.pp": secretsSite, "environment.conf": ""})
	f.Push("main")
	repo, err := gitrepo.Open(f.Bare)
	if err != nil {
		t.Fatal(err)
	}
	runner, err := puppet.NewRunner(puppet.Options{
		Certname:   execHost,
		Env:        []string{"FACTER_balcony_root=" + g.root},
		Timeout:    2 * time.Minute,
		ScratchDir: g.scratch,
	})
	if err != nil {
		t.Fatal(err)
	}
	g.puppet = &countingPuppet{PuppetRunner: runner}
	g.exec = &agent.PuppetExecutor{
		Host:      execHost,
		Checkouts: gitrepo.NewCheckoutCache(repo, g.checkouts, 4),
		Puppet:    g.puppet,
		Code:      countingCode{&g.fetches},
	}
	if stripRoot {
		g.exec.Root = g.root
	}
	return g
}

// countingCode counts the updates of the code and brings nothing.
type countingCode struct{ n *atomic.Int32 }

func (c countingCode) Update(context.Context, ...string) error {
	c.n.Add(1)
	return nil
}

func (g *execRig) noop(t *testing.T, rev string) *protocol.RunResult {
	t.Helper()
	res := g.exec.Execute(t.Context(), protocol.RunRequest{
		Schema: protocol.SchemaVersion, ID: "run-1", Kind: protocol.KindNoop, Host: execHost, Revision: rev,
	})
	if res.RunID != "run-1" || res.Host != execHost || res.Revision != rev || res.Kind != protocol.KindNoop {
		t.Errorf("result identifies %s/%s/%s/%s", res.RunID, res.Host, res.Revision, res.Kind)
	}
	if res.Report == nil {
		t.Fatalf("no report: %+v", res)
	}
	if res.Report.Time.IsZero() || res.FinishedAt.Before(res.StartedAt) {
		t.Errorf("times: report %v, started %v, finished %v", res.Report.Time, res.StartedAt, res.FinishedAt)
	}
	return res
}

// noTempPaths fails when s carries a directory that differs between runs.
func (g *execRig) noTempPaths(t *testing.T, what, s string) {
	t.Helper()
	for _, dir := range []string{g.checkouts, os.TempDir() + "/"} {
		if strings.Contains(s, dir) {
			t.Errorf("%s %q carries the path %s", what, s, dir)
		}
	}
}

func TestPuppetExecutorCompiles(t *testing.T) {
	t.Parallel()
	g := newExecRig(t, false)
	res := g.noop(t, g.good)
	if res.Outcome != protocol.OutcomeDone {
		t.Fatalf("outcome %s, errors %q", res.Outcome, res.Report.Errors)
	}
	rep := res.Report
	if rep.Failed || !rep.Noop || len(rep.Errors) != 0 {
		t.Errorf("report failed=%v noop=%v errors=%q", rep.Failed, rep.Noop, rep.Errors)
	}
	if res.PuppetSeconds <= 0 {
		t.Errorf("PuppetSeconds = %v", res.PuppetSeconds)
	}
	if len(rep.Resources) != 1 {
		t.Fatalf("resources %+v, want the motd alone", rep.Resources)
	}
	r := rep.Resources[0]
	motd := g.root + "/etc/motd"
	if r.ID != "File["+motd+"]" || r.Type != "File" || r.Title != motd {
		t.Errorf("resource %s (type %s, title %s), want File[%s]", r.ID, r.Type, r.Title, motd)
	}
	if r.File != "manifests/site.pp" || r.Line != 2 {
		t.Errorf("declared at %s:%d, want manifests/site.pp:2", r.File, r.Line)
	}
	if len(r.Events) != 1 || r.Events[0].Property != "ensure" || r.Events[0].Status != "noop" {
		t.Errorf("events %+v, want one noop ensure", r.Events)
	}
	if _, err := os.Lstat(g.root); !os.IsNotExist(err) {
		t.Errorf("the noop created %s (stat: %v)", g.root, err)
	}
	if n := g.fetches.Load(); n != 0 {
		t.Errorf("fetched %d times for a known revision", n)
	}
}

func TestPuppetExecutorCompileError(t *testing.T) {
	t.Parallel()
	g := newExecRig(t, false)
	res := g.noop(t, g.bad)
	if res.Outcome != protocol.OutcomeFailed {
		t.Fatalf("outcome %s, want %s", res.Outcome, protocol.OutcomeFailed)
	}
	rep := res.Report
	t.Logf("errors: %q", rep.Errors)
	if !rep.Failed || len(rep.Resources) != 0 {
		t.Errorf("report failed=%v with %d resources", rep.Failed, len(rep.Resources))
	}
	boom := false
	for _, e := range rep.Errors {
		boom = boom || strings.Contains(e, "boom")
		g.noTempPaths(t, "error", e)
		if strings.HasPrefix(e, "Facter:") {
			t.Errorf("Facter noise in the errors: %q", e)
		}
	}
	if !boom {
		t.Errorf("errors %q do not mention boom", rep.Errors)
	}
	if res.PuppetSeconds <= 0 {
		t.Errorf("PuppetSeconds = %v", res.PuppetSeconds)
	}
}

func TestPuppetExecutorUnknownRevision(t *testing.T) {
	t.Parallel()
	g := newExecRig(t, false)
	rev := strings.Repeat("0123456789", 4)
	res := g.noop(t, rev)
	t.Logf("errors: %q", res.Report.Errors)
	if res.Outcome != protocol.OutcomeFailed || !res.Report.Failed {
		t.Fatalf("outcome %s, failed %v", res.Outcome, res.Report.Failed)
	}
	if len(res.Report.Errors) != 1 || !strings.Contains(res.Report.Errors[0], rev) ||
		!strings.Contains(res.Report.Errors[0], "unknown revision") {
		t.Errorf("errors %q, want one naming the unknown revision %s", res.Report.Errors, rev)
	}
	if n := g.fetches.Load(); n != 1 {
		t.Errorf("fetched %d times before giving up, want 1", n)
	}
	if n := g.puppet.runs.Load(); n != 0 {
		t.Errorf("puppet ran %d times without a checkout", n)
	}
}

func TestPuppetExecutorStripsHostRoot(t *testing.T) {
	t.Parallel()
	g := newExecRig(t, true)
	res := g.noop(t, g.good)
	if res.Outcome != protocol.OutcomeDone {
		t.Fatalf("outcome %s, errors %q", res.Outcome, res.Report.Errors)
	}
	if len(res.Report.Resources) != 1 {
		t.Fatalf("resources %+v, want the motd alone", res.Report.Resources)
	}
	r := res.Report.Resources[0]
	if r.ID != "File[/etc/motd]" || r.Title != "/etc/motd" {
		t.Errorf("resource %s titled %s, want File[/etc/motd]", r.ID, r.Title)
	}
	for _, s := range append(append([]string{r.ID, r.Title, r.File, r.Diff}, r.Logs...), r.ContainmentPath...) {
		if strings.Contains(s, g.root) {
			t.Errorf("%q carries the host root %s", s, g.root)
		}
	}
	for _, e := range r.Events {
		if strings.Contains(e.Message, g.root) || strings.Contains(e.Desired, g.root) {
			t.Errorf("event %+v carries the host root", e)
		}
	}
}

// TestPuppetExecutorEnvironmentConf: the node file is where the revision's
// environment.conf says (manifests/site.pp beside it fails to compile),
// and an environment.conf Puppet would refuse fails the run with why.
func TestPuppetExecutorEnvironmentConf(t *testing.T) {
	t.Parallel()
	g := newExecRig(t, false)
	res := g.noop(t, g.nodes)
	if res.Outcome != protocol.OutcomeDone {
		t.Fatalf("outcome %s, errors %q", res.Outcome, res.Report.Errors)
	}
	if rs := res.Report.Resources; len(rs) != 1 || rs[0].File != "nodes/site.pp" {
		t.Errorf("resources %+v, want the motd declared in nodes/site.pp", rs)
	}

	res = g.noop(t, g.badConf)
	if res.Outcome != protocol.OutcomeFailed || !res.Report.Failed {
		t.Fatalf("outcome %s, failed %v, want a failed run", res.Outcome, res.Report.Failed)
	}
	if len(res.Report.Errors) != 1 || !strings.Contains(res.Report.Errors[0], "environment.conf") ||
		!strings.Contains(res.Report.Errors[0], "line 1") {
		t.Errorf("errors %q, want one naming environment.conf and its line", res.Report.Errors)
	}
}
