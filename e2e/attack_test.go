package e2e

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/credentials"
	"github.com/balcony-dev/balcony/pkg/nooper"
	"github.com/balcony-dev/balcony/pkg/protocol"
	"github.com/balcony-dev/balcony/pkg/report"
)

// TestAttacks runs the whole pipeline on a bus secured with the shipped
// permission sets (the identities `nooper credentials` wrote, TLS), each
// daemon and verb with its own role's seed: a push is nooped by real
// Puppet and approved by its owner through the CLI. Then it tries, each as
// the role that would, the attacks of issue 14: a forged commit event, an
// unsolicited report, reading and publishing beyond an agent's or a
// person's rights, a resource asking for noop => false. Each fails with a
// rejection the nooper logs and announces, or a permissions violation the
// server logs and sends to the client; at the end every pushed commit was
// nooped and announced once, every host ran each noop asked of it once,
// and the approval stands.
func TestAttacks(t *testing.T) {
	fozzie, statler := "fozzie.example.com", "statler.example.com"
	f := newFleetOn(t, []string{fozzie, statler}, newSecuredBus(t, "kermit", "statler"))
	evs := watchEvents(t, f.watcher, "balcony.event.>")
	f.startApprover(t)
	ctx := context.Background()
	nooperBin, approverBin := filepath.Join(binaries(t), "nooper"), filepath.Join(binaries(t), "approver")
	as := func(role credentials.Role, name string, args ...string) []string {
		return slices.Concat(args[:1], f.busArgs(role, name), args[1:])
	}

	// The pipeline: statler's seat is nooped, and statler, who owns his
	// node file, approves it. kermit may read it but not approve as him.
	seat := f.push(t, 2)
	f.waitReady(t, seat)
	out := runFail(t, f.dir, approverBin, as(credentials.Person, "kermit", "approve", "--as", "statler", seat)...)
	if !strings.Contains(out, "Permissions Violation for Publish to") || !strings.Contains(out, "balcony.approver.approve.statler") {
		t.Errorf("kermit approving as statler: the CLI does not name the permissions violation:\n%s", out)
	}
	out = run(t, f.dir, approverBin, as(credentials.Person, "kermit", "status", seat)...)
	if !strings.Contains(out, "**NOT APPROVED**") {
		t.Errorf("seat approved by kermit's attempt to approve as statler:\n%s", out)
	}
	out = run(t, f.dir, approverBin, as(credentials.Person, "statler", "approve", "--as", "statler", seat)...)
	if !strings.Contains(out, "the commit is approved") {
		t.Errorf("statler's approval of his seat: %s", out)
	}
	out = run(t, f.dir, approverBin, as(credentials.Person, "kermit", "status", seat)...)
	if !strings.Contains(out, "**APPROVED**") || !strings.Contains(out, "statler") {
		t.Errorf("approver status, as kermit, after statler's approval:\n%s", out)
	}
	out = run(t, f.dir, nooperBin, as(credentials.Person, "kermit", "show", seat)...)
	if !strings.Contains(out, "+left box") {
		t.Errorf("nooper show, as kermit, lacks the seat's content:\n%s", out)
	}
	eventually(t, time.Minute, "approval.complete of the seat", func() bool {
		return evs.find(func(ev protocol.Event) bool { return ev.Type == "approval.complete" && ev.Commit == seat }) != nil
	})

	// 1. A forged commit event, as the committer: a commit of a branch
	// that is not nooped, claimed for main with itself as its parent.
	git(t, f.work, "checkout", "-q", "-b", "side")
	editFile(t, filepath.Join(f.work, "modules/base/manifests/init.pp"), "Welcome to the Muppet Theater.", "Welcome to the Muppet Theater, where the show goes on.")
	side := commitAll(t, f.work, "motd: tell every host the show goes on")
	git(t, f.work, "push", "-q", "origin", "side")
	committer := f.connectAs(t, credentials.Committer, "")
	forged := protocol.CommitEvent{
		Schema: protocol.SchemaVersion, Repo: "puppet", Ref: "refs/heads/main", Branch: "main", Old: seat, New: side, Source: "hook", Time: time.Now().UTC(),
		Commits: []protocol.Commit{{SHA: side, Parents: []string{side}, Author: "Kermit", AuthorEmail: "kermit@example.com", Subject: "nothing to see", Time: time.Now().UTC()}},
	}
	// Under the hook's own message id: the real push of the commit must
	// still be nooped.
	if _, err := committer.Publish(ctx, "balcony.commit.puppet", "puppet:refs/heads/main:"+side, forged); err != nil {
		t.Fatalf("the committer may publish commit events: %v", err)
	}
	f.rejected(t, evs, side, "is not on the first-parent chain of main")
	if _, err := nooper.Load(ctx, f.conn.JS, side); !errors.Is(err, nooper.ErrUnknownCommit) {
		t.Errorf("the forged event made a noop of %s: %v", side, err)
	}
	git(t, f.work, "checkout", "-q", "main")
	git(t, f.work, "merge", "-q", "--ff-only", "side")
	git(t, f.work, "push", "-q", "origin", "main")
	c := f.waitReady(t, side)
	if g := onlyGroup(t, c, "File[/etc/balcony/motd-welcome]"); !slices.Equal(g.Hosts, []string{fozzie, statler}) {
		t.Errorf("the real push of the forged commit: motd hosts %v", g.Hosts)
	}
	out = run(t, f.dir, approverBin, as(credentials.Person, "kermit", "status", side)...)
	if !strings.Contains(out, "**NOT APPROVED**") {
		t.Errorf("the forged commit's real push is approved without its owners:\n%s", out)
	}

	// 2. and 4. An unsolicited report, as fozzie's agent on its own
	// subject, for a commit not pushed yet; the commit's resource asks
	// for noop => false.
	forced := "/etc/balcony/forced"
	if err := os.WriteFile(filepath.Join(f.work, "manifests/nodes/fozzie.pp"), []byte(`node 'fozzie.example.com' {
  include base

  file { "${facts['balcony_root']}`+forced+`":
    ensure  => file,
    content => "changed by a review\n",
    noop    => false,
  }
  file { "${facts['balcony_root']}/etc/balcony/sensitive":
    ensure  => file,
    content => Sensitive("`+secretSensitive+`\n"),
  }
  file { "${facts['balcony_root']}/etc/balcony/hidden":
    ensure    => file,
    content   => "`+secretHidden+`\n",
    show_diff => false,
  }
}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	forcedRev := commitAll(t, f.work, "fozzie: a file no review may write")
	agent, agentErrs := f.dialRecording(t, credentials.Agent, fozzie)
	unsolicited := protocol.RunResult{
		Schema: protocol.SchemaVersion, RunID: "unsolicited", Kind: protocol.KindNoop, Host: fozzie, Revision: forcedRev,
		Outcome: protocol.OutcomeDone, Report: &report.Report{Host: fozzie, Noop: true, Time: time.Now().UTC()},
	}
	own, _ := bus.ReportSubject(protocol.KindNoop, fozzie)
	if _, err := agent.Publish(ctx, own, unsolicited.RunID, unsolicited); err != nil {
		t.Fatalf("an agent may publish on its own report subject: %v", err)
	}
	f.rejected(t, evs, forcedRev, "answers no run the nooper asked")
	reports, err := f.conn.JS.KeyValue(ctx, "reports")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reports.Get(ctx, forcedRev+"."+fozzie); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Errorf("the unsolicited report was cached: %v", err)
	}
	git(t, f.work, "push", "-q", "origin", "main")

	// 3. While Puppet runs: what the shipped permissions deny.
	f.deniedToAgent(t, agent, agentErrs, seat)

	c = f.waitReady(t, forcedRev)
	var ids []string
	for _, g := range c.Result.Groups {
		ids = append(ids, g.Resource.ID)
		if g.Resource.ID == "File["+forced+"]" && (!slices.Equal(g.Hosts, []string{fozzie}) || !g.NoopFalse) {
			t.Errorf("the noop => false file: hosts %v, marked %v", g.Hosts, g.NoopFalse)
		}
	}
	slices.Sort(ids)
	if want := []string{"File[/etc/balcony/forced]", "File[/etc/balcony/hidden]", "File[/etc/balcony/sensitive]"}; !slices.Equal(ids, want) {
		t.Errorf("groups of %s: %v, want %v", forcedRev[:10], ids, want)
	}
	if _, err := os.Stat(filepath.Join(f.root(fozzie), forced)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the review wrote %s on fozzie: %v", forced, err)
	}
	out = run(t, f.dir, nooperBin, as(credentials.Person, "kermit", "show", forcedRev)...)
	if !strings.Contains(out, "noop => false") {
		t.Errorf("nooper show does not mark the noop => false file:\n%s", out)
	}

	// Nothing lost or doubled.
	pushed := []string{seat, side, forcedRev}
	for _, sha := range pushed {
		c, err := nooper.Load(ctx, f.conn.JS, sha)
		if err != nil {
			t.Fatal(err)
		}
		if c.State != nooper.StateReady || len(c.Result.Unanswered) > 0 || len(c.Result.Errors) > 0 {
			t.Errorf("%s: state %s, unanswered %v, errors %+v", sha[:10], c.State, c.Result.Unanswered, c.Result.Errors)
		}
		for _, need := range c.Needs {
			if need.Attempts > 1 {
				t.Errorf("%s: %s asked %d times for %s", sha[:10], need.Host, need.Attempts, need.Revision[:10])
			}
		}
	}
	for _, h := range []string{fozzie, statler} {
		// The pushed commits and the first one, the seat's baseline.
		runs := reportsByRevision(t, f, h)
		for _, sha := range pushed {
			if runs[sha] == 0 {
				t.Errorf("%s never answered the noop of %s: %v", h, sha[:10], runs)
			}
		}
		for sha, n := range runs {
			if n != 1 {
				t.Errorf("%s answered %d noops of %s, want 1: %v", h, n, sha[:10], runs)
			}
		}
		if len(runs) != len(pushed)+1 {
			t.Errorf("%s ran the noops of %d revisions, want %d: %v", h, len(runs), len(pushed)+1, runs)
		}
	}
	for _, sha := range pushed {
		if n := f.storedEvents(t, "balcony.event.noop.ready", sha); n != 1 {
			t.Errorf("%d noop.ready events of %s in EVENTS, want 1", n, sha[:10])
		}
	}
	if n := f.storedEvents(t, "balcony.event.approval.complete", seat); n != 1 {
		t.Errorf("%d approval.complete events of the seat in EVENTS, want 1", n)
	}
	out = run(t, f.dir, approverBin, as(credentials.Person, "statler", "status", seat)...)
	if !strings.Contains(out, "**APPROVED**") {
		t.Errorf("the seat's approval did not stand:\n%s", out)
	}

	// Secrets never leave the host: not in any message of any stream,
	// which holds every bucket and object store too.
	// The content of the noop => false file, no secret, shows that the
	// scan reads what the review holds.
	shown := false
	streams := f.conn.JS.StreamNames(ctx)
	for name := range streams.Name() {
		eachStored(t, f, name, "", func(data []byte) {
			for _, secret := range []string{secretSensitive, secretHidden} {
				if strings.Contains(string(data), secret) {
					t.Errorf("stream %s holds the secret %q", name, secret)
				}
			}
			shown = shown || strings.Contains(string(data), "changed by a review")
		})
	}
	if err := streams.Err(); err != nil {
		t.Fatal(err)
	}
	if !shown {
		t.Error("no stream holds the content of the noop => false file: the scan read nothing")
	}
}

// Contents that a Sensitive value and a show_diff => false file hold.
const (
	secretSensitive = "s3cret-sensitive-4711"
	secretHidden    = "s3cret-hidden-4711"
)

// deniedToAgent tries, as fozzie's agent, what its permissions deny: the
// replies of others, another host's runs, announcing a noop's or an
// approval's end, another host's report. Each is a permissions violation
// the agent's connection is told of and the server logs in the nooper's
// log; none reaches a stream.
func (f *fleet) deniedToAgent(t *testing.T, agent *bus.Conn, errs *asyncErrors, seat string) {
	t.Helper()
	ctx := context.Background()
	short := func() (context.Context, context.CancelFunc) {
		// Nothing answers a denied request: this only ends the wait.
		return context.WithTimeout(ctx, 10*time.Second)
	}
	statler := "statler.example.com"
	denied := func(what, subject string, sub bool) {
		t.Helper()
		verb := "publish to"
		if sub {
			verb = "subscription to"
		}
		eventually(t, time.Minute, "the agent told of the violation: "+what, func() bool {
			return errs.has("permissions violation", verb, `"`+subject+`"`)
		})
		logged := "Publish Violation - Subject " + fmt.Sprintf("%q", subject)
		if sub {
			logged = "Subscription Violation - Subject " + fmt.Sprintf("%q", subject)
		}
		eventually(t, time.Minute, "the nooper's log of the violation: "+what, func() bool {
			data, _ := os.ReadFile(f.nooper.log)
			return strings.Contains(string(data), logged) || strings.Contains(string(data), strings.ReplaceAll(logged, `"`, `\"`))
		})
	}

	if _, err := agent.NC.SubscribeSync("_INBOX.>"); err != nil {
		t.Logf("subscribe _INBOX.>: %v", err)
	}
	denied("everyone's replies", "_INBOX.>", true)

	runs, _ := bus.HostRunsSubject(statler)
	c, cancel := short()
	_, err := agent.JS.CreateOrUpdateConsumer(c, "RUNS", jetstream.ConsumerConfig{Durable: bus.CatchUpConsumer("fozzie.example.com"), FilterSubject: runs})
	cancel()
	if err == nil {
		t.Error("fozzie's agent made a consumer of statler's runs")
	}
	denied("a consumer of statler's runs", "$JS.API.CONSUMER.CREATE.RUNS.agent_fozzie_example_com."+runs, false)
	// Its own filter in the subject, statler's in the request: the server
	// answers with an error.
	ownRuns, _ := bus.HostRunsSubject("fozzie.example.com")
	c, cancel = short()
	resp, err := agent.NC.RequestWithContext(c, "$JS.API.CONSUMER.CREATE.RUNS.agent_fozzie_example_com."+ownRuns,
		[]byte(`{"stream_name":"RUNS","config":{"durable_name":"agent_fozzie_example_com","filter_subject":"`+runs+`","ack_policy":"explicit"}}`))
	cancel()
	if err != nil || !strings.Contains(string(resp.Data), `"error"`) {
		t.Errorf("a consumer of statler's runs under fozzie's filter: %v %s", err, respData(resp))
	}

	c, cancel = short()
	_, err = agent.NC.RequestWithContext(c, "$JS.API.DIRECT.GET.RUNS", []byte(`{"last_by_subj":"balcony.run.noop.`+statler+`"}`))
	cancel()
	if err == nil {
		t.Error("fozzie's agent read statler's runs by direct get")
	}
	denied("a direct get of RUNS", "$JS.API.DIRECT.GET.RUNS", false)

	for _, typ := range []string{"noop.ready", "approval.complete"} {
		c, cancel = short()
		err := agent.Announce(c, "", protocol.Event{Type: typ, Commit: seat, Text: "forged by fozzie's agent"})
		cancel()
		if err == nil {
			t.Errorf("fozzie's agent announced %s", typ)
		}
		denied("announcing "+typ, "balcony.event."+typ, false)
	}

	theirs, _ := bus.ReportSubject(protocol.KindNoop, statler)
	forged := protocol.RunResult{Schema: protocol.SchemaVersion, RunID: "forged-by-fozzie", Kind: protocol.KindNoop, Host: statler, Revision: seat,
		Outcome: protocol.OutcomeDone, Report: &report.Report{Host: statler, Noop: true, Time: time.Now().UTC()}}
	c, cancel = short()
	_, err = agent.Publish(c, theirs, forged.RunID, forged)
	cancel()
	if err == nil {
		t.Error("fozzie's agent published statler's report")
	}
	denied("statler's report", theirs, false)
}

// rejected waits for the nooper's announcement that it rejected a message
// naming sha for reason, and checks that it logged it.
func (f *fleet) rejected(t *testing.T, evs *events, sha, reason string) {
	t.Helper()
	match := func(ev protocol.Event) bool {
		r, _ := ev.Data["reason"].(string)
		return ev.Type == "rejected" && ev.Service == "nooper" && strings.Contains(r, sha) && strings.Contains(r, reason)
	}
	eventually(t, time.Minute, "the nooper's rejection of "+sha[:10]+": "+reason, func() bool { return evs.find(match) != nil })
	eventually(t, time.Minute, "the nooper's log of the rejection", func() bool {
		data, _ := os.ReadFile(f.nooper.log)
		for _, line := range strings.Split(string(data), "\n") {
			if strings.Contains(line, "rejected a malformed message") && strings.Contains(line, sha) && strings.Contains(line, reason) {
				return true
			}
		}
		return false
	})
}

// reportsByRevision counts host's noop reports in REPORTS by revision,
// those the nooper rejected (run ids it never asked) left out.
func reportsByRevision(t *testing.T, f *fleet, host string) map[string]int {
	t.Helper()
	out := map[string]int{}
	subject, _ := bus.ReportSubject(protocol.KindNoop, host)
	eachStored(t, f, "REPORTS", subject, func(data []byte) {
		var r protocol.RunResult
		if err := bus.Unmarshal(data, &r); err != nil {
			t.Fatal(err)
		}
		if r.RunID != "unsolicited" {
			out[r.Revision]++
		}
	})
	return out
}

// storedEvents counts the events on subject about commit sha in EVENTS.
func (f *fleet) storedEvents(t *testing.T, subject, sha string) int {
	t.Helper()
	n := 0
	eachStored(t, f, "EVENTS", subject, func(data []byte) {
		var ev protocol.Event
		if err := jsonUnmarshal(data, &ev); err != nil {
			t.Fatal(err)
		}
		if ev.Commit == sha {
			n++
		}
	})
	return n
}

// eachStored calls fn with every message on subject in stream (every
// message when subject is "").
func eachStored(t *testing.T, f *fleet, stream, subject string, fn func([]byte)) {
	t.Helper()
	ctx := context.Background()
	s, err := f.conn.JS.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	for seq := uint64(1); ; {
		msg, err := s.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(cmp.Or(subject, ">")))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		fn(msg.Data)
		seq = msg.Sequence + 1
	}
}

// git runs git in dir as the sample history's author.
func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	return run(t, dir, "git", slices.Concat([]string{"-c", "user.name=Kermit", "-c", "user.email=kermit@example.com"}, args)...)
}

// commitAll commits everything in the work clone and returns the sha.
func commitAll(t *testing.T, work, message string) string {
	t.Helper()
	git(t, work, "add", "-A")
	git(t, work, "commit", "-q", "-m", message)
	return strings.TrimSpace(git(t, work, "rev-parse", "HEAD"))
}

// editFile replaces old by new in path, which must contain it.
func editFile(t *testing.T, path, old, new string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), old) {
		t.Fatalf("%s lacks %q", path, old)
	}
	if err := os.WriteFile(path, []byte(strings.Replace(string(data), old, new, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}

func respData(m *nats.Msg) string {
	if m == nil {
		return ""
	}
	return string(m.Data)
}
