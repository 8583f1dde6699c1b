package codebus

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nuid"

	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/bus/bustest"
	"github.com/balcony-dev/balcony/pkg/protocol"
)

// fleetSizes are the numbers of agents BenchmarkFleetCode simulates.
var fleetSizes = []int{1, 10, 50}

// BenchmarkFleetCode is issue 18's fleet benchmark: the time from a commit
// event to the code being ready on N agents, and the bytes it took, over
// the bus (bus/agents=N) and with git fetch (git/agents=N).
//
// One embedded server (file store, as in production) per sub-benchmark;
// N agents, each with its own connection and its own repository holding
// the synthetic chain's first revision (bus: as a Fetch of its full pack
// stored it; git: on refs/heads/main, as a clone has it), subscribed to
// the commit subject as pkg/agent's prefetch is. Each iteration is the chain's next commit:
// the committer's part first (bus: Publisher.Publish of its pack; git:
// nothing, the commit is in the origin repository already), then the
// commit event on balcony.commit.puppet, published as the committer does
// (JetStream, msgpack), on which every agent brings the revision into its
// repository: Fetcher.Fetch (bus), or the git command line's `git fetch`
// of the sha into refs/heads/main from the local bare origin (git). The
// agents run concurrently, on this machine's cores with the server.
//
// Run with -benchtime Kx, K at most the chain's 50 commits (make
// bench-code). Metrics, per commit:
//
//   - ms/ready-all: from the event's publication to the last agent done
//     (median over the commits);
//   - ms/ready-agent-median: from the event to an agent done (median over
//     every agent and commit);
//   - B/commit: the pack one agent received (bus: FetchResult.Bytes; git:
//     what upload-pack sent, written by git itself with
//     GIT_TRACE_PACKFILE);
//   - B-sent/commit: those packs summed over the N agents;
//   - B-wire/agent: everything one agent received: its NATS connection's
//     messages, headers and payloads (the event; for the bus also the
//     objects' info and the chunks), plus for git all that upload-pack
//     wrote to it (refs, acknowledgements, side-band framing), counted by
//     an extra fetch outside the timer;
//   - cpu-ms/agent: CPU time (user and system) of this process (server,
//     publisher, agents) and of the git processes, over the window from
//     the event to the last agent done, divided by N.
func BenchmarkFleetCode(b *testing.B) {
	h := syntheticRepo(b)
	for _, n := range fleetSizes {
		b.Run(fmt.Sprintf("bus/agents=%d", n), func(b *testing.B) { benchFleet(b, h, n, &busSide{h: h}) })
	}
	for _, n := range fleetSizes {
		b.Run(fmt.Sprintf("git/agents=%d", n), func(b *testing.B) { benchFleet(b, h, n, &gitSide{h: h}) })
	}
}

// fleetSide is how code reaches the agents: over the bus or with git.
type fleetSide interface {
	// start prepares the committer's side (outside the timer) and
	// returns the repository every agent starts from, a copy each: the
	// chain's first revision as an agent of that side holds it.
	start(b *testing.B, conn *bus.Conn) (base string)
	// agent returns the fetch of an agent whose connection is cl and
	// whose repository is dir (holding the chain's first revision): it
	// brings revision sha and returns the bytes of the pack it received.
	agent(b *testing.B, cl *bus.Conn, dir string) func(ctx context.Context, sha string) (uint64, error)
	// publish makes the chain's revision k fetchable, before its event.
	publish(b *testing.B, k int)
	// wire is what an agent received for revision k apart from its NATS
	// connection (called outside the timer).
	wire(b *testing.B, k int) uint64
}

// agentDone is an agent's answer to one commit event.
type agentDone struct {
	at   time.Time
	pack uint64
	err  error
}

func benchFleet(b *testing.B, h history, n int, side fleetSide) {
	ctx := context.Background()
	conn := bustest.Start(b)
	base := side.start(b, conn)
	subject, err := bus.CommitSubject("puppet")
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan agentDone, n)
	clients := make([]*bus.Conn, n)
	for i := range clients {
		cl := bustest.Client(b, conn)
		fetch := side.agent(b, cl, copyRepo(b, base))
		_, err := cl.NC.Subscribe(subject, func(m *nats.Msg) {
			var ev protocol.CommitEvent
			if err := bus.Unmarshal(m.Data, &ev); err != nil {
				done <- agentDone{err: err}
				return
			}
			pack, err := fetch(ctx, ev.New)
			done <- agentDone{at: time.Now(), pack: pack, err: err}
		})
		if err != nil {
			b.Fatal(err)
		}
		// The subscription is on the server before the first event.
		if err := cl.NC.Flush(); err != nil {
			b.Fatal(err)
		}
		clients[i] = cl
	}
	inBytes := func() (total uint64) {
		for _, cl := range clients {
			total += cl.NC.Stats().InBytes
		}
		return total
	}

	var readyAll, readyAgent []time.Duration
	var packs, wire uint64
	var cpu time.Duration
	k := 0
	for b.Loop() {
		k++
		if k >= len(h.shas) {
			b.Fatalf("the synthetic chain has %d commits: run with -benchtime %dx or fewer", len(h.shas)-1, len(h.shas)-1)
		}
		side.publish(b, k)
		ev := protocol.CommitEvent{Schema: protocol.SchemaVersion, Repo: "puppet", Ref: "refs/heads/main", Branch: "main",
			Old: h.shas[k-1], New: h.shas[k], Source: "hook", Time: time.Now()}
		in, cpu0 := inBytes(), cpuTime()
		start := time.Now()
		if _, err := conn.Publish(ctx, subject, "bench:"+ev.New+":"+nuid.Next(), ev); err != nil {
			b.Fatal(err)
		}
		var last time.Duration
		for got := range n {
			select {
			case d := <-done:
				if d.err != nil {
					b.Fatalf("commit %d: %v", k, d.err)
				}
				took := d.at.Sub(start)
				readyAgent = append(readyAgent, took)
				last = max(last, took)
				packs += d.pack
			case <-time.After(bustest.Patience):
				b.Fatalf("commit %d: %d of %d agents ready after %s", k, got, n, bustest.Patience)
			}
		}
		cpu += cpuTime() - cpu0
		readyAll = append(readyAll, last)
		wire += inBytes() - in
		b.StopTimer()
		wire += uint64(n) * side.wire(b, k)
		b.StartTimer()
	}
	commits, agents := float64(k), float64(n)
	b.ReportMetric(ms(median(readyAll)), "ms/ready-all")
	b.ReportMetric(ms(median(readyAgent)), "ms/ready-agent-median")
	b.ReportMetric(float64(packs)/commits/agents, "B/commit")
	b.ReportMetric(float64(packs)/commits, "B-sent/commit")
	b.ReportMetric(float64(wire)/commits/agents, "B-wire/agent")
	if cpu > 0 {
		b.ReportMetric(ms(cpu)/commits/agents, "cpu-ms/agent")
	}
}

// busSide: the committer publishes each revision's pack in the code
// object store; agents Fetch it.
type busSide struct {
	h   history
	pub *Publisher
}

func (s *busSide) start(b *testing.B, conn *bus.Conn) string {
	ctx := context.Background()
	store, err := conn.JS.ObjectStore(ctx, Bucket)
	if err != nil {
		b.Fatal(err)
	}
	s.pub = NewPublisher(store, openRepo(b, s.h.bare), PublisherOptions{})
	// The bus holds the first revision's full pack, as after the
	// committer's first push, and an agent's repository what a Fetch of
	// it into an empty one stored.
	if _, err := s.pub.Publish(ctx, s.h.shas[0], ""); err != nil {
		b.Fatal(err)
	}
	base := emptyBare(b)
	if _, err := NewFetcher(store, openRepo(b, base), FetcherOptions{}).Fetch(ctx, s.h.shas[0]); err != nil {
		b.Fatal(err)
	}
	return base
}

func (s *busSide) agent(b *testing.B, cl *bus.Conn, dir string) func(context.Context, string) (uint64, error) {
	store, err := cl.JS.ObjectStore(context.Background(), Bucket)
	if err != nil {
		b.Fatal(err)
	}
	f := NewFetcher(store, openRepo(b, dir), FetcherOptions{})
	return func(ctx context.Context, sha string) (uint64, error) {
		res, err := f.Fetch(ctx, sha)
		if err == nil && len(res.Packs) != 1 {
			err = fmt.Errorf("fetch %s: %d packs, want the one since the agent's revision", sha, len(res.Packs))
		}
		return res.Bytes, err
	}
}

func (s *busSide) publish(b *testing.B, k int) {
	if _, err := s.pub.Publish(context.Background(), s.h.shas[k], s.h.shas[k-1]); err != nil {
		b.Fatal(err)
	}
}

func (s *busSide) wire(*testing.B, int) uint64 { return 0 }

// gitSide: the commits are in a local bare origin; each agent runs git
// fetch from it.
type gitSide struct {
	h history
	// probe follows the chain outside the timer, fetching through
	// upload-pack behind a script that counts what it writes.
	probe, counter, counted string
}

// countingUploadPack runs git upload-pack and appends a copy of what it
// sends to the file $WIRE_FILE.
const countingUploadPack = "#!/bin/sh\ngit upload-pack \"$@\" | tee -a \"$WIRE_FILE\"\n"

func (s *gitSide) start(b *testing.B, _ *bus.Conn) string {
	dir := scratch(b)
	s.counter, s.counted = filepath.Join(dir, "upload-pack"), filepath.Join(dir, "wire")
	if err := os.WriteFile(s.counter, []byte(countingUploadPack), 0o755); err != nil {
		b.Fatal(err)
	}
	base := baseRepo(b, s.h)
	s.probe = copyRepo(b, base)
	return base
}

func (s *gitSide) agent(b *testing.B, _ *bus.Conn, dir string) func(context.Context, string) (uint64, error) {
	trace := filepath.Join(scratch(b), "pack")
	return func(_ context.Context, sha string) (uint64, error) {
		// Into refs/heads/main, as a clone's remote branch: git
		// negotiates from the repository's refs, and sends the whole
		// history to one that has none.
		if err := gitEnv(dir, []string{"GIT_TRACE_PACKFILE=" + trace}, "fetch", "--quiet", s.h.bare, sha+":refs/heads/main"); err != nil {
			return 0, err
		}
		return takeSize(trace)
	}
}

func (s *gitSide) publish(*testing.B, int) {}

func (s *gitSide) wire(b *testing.B, k int) uint64 {
	if err := gitEnv(s.probe, []string{"WIRE_FILE=" + s.counted}, "fetch", "--quiet", "--upload-pack="+s.counter, s.h.bare, s.h.shas[k]+":refs/heads/main"); err != nil {
		b.Fatal(err)
	}
	n, err := takeSize(s.counted)
	if err != nil {
		b.Fatal(err)
	}
	return n
}

// gitEnv runs git in dir with gitIn's environment and env.
func gitEnv(dir string, env []string, args ...string) error {
	cmd := gitCmd(dir, args...)
	cmd.Env = append(cmd.Env, env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("git %v: %v: %s", args, err, out)
	}
	return nil
}

// takeSize returns the size of file and removes it.
func takeSize(file string) (uint64, error) {
	fi, err := os.Stat(file)
	if err != nil {
		return 0, err
	}
	return uint64(fi.Size()), os.Remove(file)
}

// baseRepo is a bare repository holding h's first revision on
// refs/heads/main, as an agent's clone before the chain.
func baseRepo(b testing.TB, h history) string {
	b.Helper()
	dir := emptyBare(b)
	if _, err := gitIn(dir, "fetch", "--quiet", h.bare, h.shas[0]+":refs/heads/main"); err != nil {
		b.Fatal(err)
	}
	return dir
}

// copyRepo copies the repository src into a new directory.
func copyRepo(b testing.TB, src string) string {
	b.Helper()
	dst := filepath.Join(scratch(b), filepath.Base(src))
	err := filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		to := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(to, 0o755)
		}
		return copyFile(path, to)
	})
	if err != nil {
		b.Fatal(err)
	}
	return dst
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
