package codebus

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/storage"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/balcony-dev/balcony/pkg/bus/bustest"
	"github.com/balcony-dev/balcony/pkg/gitrepo"
)

// The synthetic repository of the benchmarks: synthFiles files of Puppet
// code in synthDirs modules, then a chain of synthChain commits each
// editing synthTouched files.
const (
	synthFiles   = 3000
	synthDirs    = 100
	synthChain   = 50
	synthTouched = 3
)

// history is a bare repository and a chain of its revisions, oldest first.
type history struct {
	bare string
	shas []string
}

var (
	benchDir   string // removed by TestMain
	synthOnce  sync.Once
	synth      history
	synthErr   error
	sampleOnce sync.Once
	sample     history
	sampleErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if benchDir != "" {
		_ = os.RemoveAll(benchDir)
	}
	os.Exit(code)
}

// gitCmd is git args in dir, with no system or user configuration and a
// fixed author and date.
func gitCmd(dir string, args ...string) *exec.Cmd {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL="+os.DevNull,
		"GIT_AUTHOR_NAME=Ada", "GIT_AUTHOR_EMAIL=ada@example.com", "GIT_COMMITTER_NAME=Ada", "GIT_COMMITTER_EMAIL=ada@example.com",
		"GIT_AUTHOR_DATE=2026-01-02T03:04:05Z", "GIT_COMMITTER_DATE=2026-01-02T03:04:05Z")
	return cmd
}

func gitIn(dir string, args ...string) (string, error) {
	out, err := gitCmd(dir, args...).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		return "", fmt.Errorf("git %s: %v: %s", strings.Join(args, " "), err, stderr)
	}
	return strings.TrimSpace(string(out)), nil
}

func scratch(tb testing.TB) string {
	tb.Helper()
	if benchDir == "" {
		d, err := os.MkdirTemp("", "codebus-bench-")
		if err != nil {
			tb.Fatal(err)
		}
		benchDir = d
	}
	d, err := os.MkdirTemp(benchDir, "")
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

// puppetClass is a file of the synthetic repository: a class of a few
// resources, like most of a Puppet code base.
func puppetClass(dir, file, rev int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Managed by the platform team.\nclass mod%d::part%d (\n  String $ensure = 'present',\n) {\n", dir, file)
	for r := range 6 {
		fmt.Fprintf(&b, "  file { '/etc/mod%d/part%d/%d.conf':\n    ensure  => $ensure,\n    owner   => 'root',\n    content => \"setting_%d = %d\\n\",\n  }\n", dir, file, r, r, rev+r*file)
	}
	b.WriteString("}\n")
	return b.String()
}

func syntheticRepo(tb testing.TB) history {
	tb.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		tb.Skip("git not installed")
	}
	synthOnce.Do(func() { synth, synthErr = buildSynthetic(scratch(tb)) })
	if synthErr != nil {
		tb.Fatal(synthErr)
	}
	return synth
}

func buildSynthetic(dir string) (history, error) {
	h := history{bare: filepath.Join(dir, "origin.git")}
	work := filepath.Join(dir, "work")
	path := func(n int) string {
		return filepath.Join(work, "modules", fmt.Sprintf("mod%d", n%synthDirs), "manifests", fmt.Sprintf("part%d.pp", n/synthDirs))
	}
	write := func(n, rev int) error {
		p := path(n)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		return os.WriteFile(p, []byte(puppetClass(n%synthDirs, n/synthDirs, rev)), 0o644)
	}
	if _, err := gitIn(dir, "init", "--quiet", "-b", "main", work); err != nil {
		return h, err
	}
	for n := range synthFiles {
		if err := write(n, 0); err != nil {
			return h, err
		}
	}
	commit := func(msg string) error {
		if _, err := gitIn(work, "add", "-A"); err != nil {
			return err
		}
		if _, err := gitIn(work, "commit", "--quiet", "-m", msg); err != nil {
			return err
		}
		sha, err := gitIn(work, "rev-parse", "HEAD")
		h.shas = append(h.shas, sha)
		return err
	}
	if err := commit("initial"); err != nil {
		return h, err
	}
	for c := 1; c <= synthChain; c++ {
		for k := range synthTouched {
			if err := write((c*7919+k*104729)%synthFiles, c); err != nil {
				return h, err
			}
		}
		if err := commit(fmt.Sprintf("change %d", c)); err != nil {
			return h, err
		}
	}
	if _, err := gitIn(dir, "clone", "--quiet", "--bare", work, h.bare); err != nil {
		return h, err
	}
	return h, nil
}

// sampleRepo is the sample Puppet repository of the demo and the e2e
// test (scripts/sample-repo.sh): its first commit and three pushes.
func sampleRepo(tb testing.TB) history {
	tb.Helper()
	if _, err := exec.LookPath("bash"); err != nil {
		tb.Skip("bash not installed")
	}
	sampleOnce.Do(func() {
		dir := scratch(tb)
		script, err := filepath.Abs("../../scripts/sample-repo.sh")
		if err != nil {
			sampleErr = err
			return
		}
		bare, work := filepath.Join(dir, "origin.git"), filepath.Join(dir, "work")
		steps := [][]string{{"init", bare, work}, {"step", "1", work}, {"step", "2", work}, {"step", "3", work}}
		for _, s := range steps {
			if out, err := exec.Command(script, s...).CombinedOutput(); err != nil {
				sampleErr = fmt.Errorf("sample-repo.sh %v: %v\n%s", s, err, out)
				return
			}
			sha, err := gitIn(work, "rev-parse", "HEAD")
			if err != nil {
				sampleErr = err
				return
			}
			sample.shas = append(sample.shas, sha)
		}
		sample.bare = bare
	})
	if sampleErr != nil {
		tb.Fatal(sampleErr)
	}
	return sample
}

func openRepo(tb testing.TB, path string) *gitrepo.Repo {
	tb.Helper()
	r, err := gitrepo.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = r.Close() })
	return r
}

func emptyBare(tb testing.TB) string {
	tb.Helper()
	dir := filepath.Join(scratch(tb), "agent.git")
	if _, err := gitIn(filepath.Dir(dir), "init", "--quiet", "--bare", dir); err != nil {
		tb.Fatal(err)
	}
	return dir
}

var storeSeq int

// freshStore is a new, empty object store on c.
func freshStore(tb testing.TB, js jetstream.JetStream) jetstream.ObjectStore {
	tb.Helper()
	storeSeq++
	s, err := js.CreateObjectStore(context.Background(), jetstream.ObjectStoreConfig{Bucket: fmt.Sprintf("bench_%d", storeSeq), Storage: jetstream.FileStorage})
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// publishChain publishes h's revisions in order and returns the
// incremental packs' total size and the first (full) pack's.
func publishChain(tb testing.TB, p *Publisher, h history) (incBytes, fullBytes uint64) {
	tb.Helper()
	prev := ""
	for n, sha := range h.shas {
		i, err := p.Publish(context.Background(), sha, prev)
		if err != nil {
			tb.Fatal(err)
		}
		if n == 0 {
			fullBytes = i.Size
		} else {
			incBytes += i.Size
		}
		prev = sha
	}
	return incBytes, fullBytes
}

// BenchmarkPublish: the committer's cost per commit of the synthetic
// repository's chain, and the bytes it puts on the bus per commit.
func BenchmarkPublish(b *testing.B) {
	h := syntheticRepo(b)
	conn := bustest.Start(b)
	src := openRepo(b, h.bare)
	commits := float64(len(h.shas) - 1)
	var inc, full uint64
	for b.Loop() {
		b.StopTimer()
		store := freshStore(b, conn.JS)
		p := NewPublisher(store, src, PublisherOptions{})
		if _, err := p.Publish(context.Background(), h.shas[0], ""); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		inc, full = publishChain(b, p, history{shas: h.shas})
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N)/commits, "ms/commit")
	b.ReportMetric(float64(inc)/commits, "bytes/commit")
	b.ReportMetric(float64(full), "full-bytes")
}

// BenchmarkFetch: an agent prefetching every commit of the chain as its
// event arrives (per-commit), and one 50 commits behind catching up in one
// Fetch (catch-up), against git fetch of the same commits from a local
// bare repository (BenchmarkGitFetch).
func BenchmarkFetch(b *testing.B) {
	h := syntheticRepo(b)
	conn := bustest.Start(b)
	store := freshStore(b, conn.JS)
	publishChain(b, NewPublisher(store, openRepo(b, h.bare), PublisherOptions{}), h)
	commits := float64(len(h.shas) - 1)
	fresh := func(b *testing.B) *Fetcher {
		b.StopTimer()
		defer b.StartTimer()
		f := NewFetcher(store, openRepo(b, emptyBare(b)), FetcherOptions{})
		if _, err := f.Fetch(context.Background(), h.shas[0]); err != nil {
			b.Fatal(err)
		}
		return f
	}
	b.Run("per-commit", func(b *testing.B) {
		var bytes uint64
		for b.Loop() {
			f := fresh(b)
			bytes = 0
			for _, sha := range h.shas[1:] {
				res, err := f.Fetch(context.Background(), sha)
				if err != nil {
					b.Fatal(err)
				}
				bytes += res.Bytes
			}
		}
		b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N)/commits, "ms/commit")
		b.ReportMetric(float64(bytes)/commits, "bytes/commit")
	})
	b.Run("catch-up", func(b *testing.B) {
		var res FetchResult
		for b.Loop() {
			f := fresh(b)
			var err error
			if res, err = f.Fetch(context.Background(), h.shas[len(h.shas)-1]); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(res.Bytes), "bytes")
		b.ReportMetric(float64(len(res.Packs)), "packs")
	})
}

// BenchmarkMergePacks: an agent's local copy that fetched the synthetic
// repository one commit at a time (a full pack, then a pack per commit:
// synthChain+1 packs, about gitrepo.AutoPackLimit) merged into one pack
// (gitrepo.Repo.Compact), and reading the tip's whole tree before and
// after.
func BenchmarkMergePacks(b *testing.B) {
	h := syntheticRepo(b)
	conn := bustest.Start(b)
	store := freshStore(b, conn.JS)
	publishChain(b, NewPublisher(store, openRepo(b, h.bare), PublisherOptions{}), h)
	tip := h.shas[len(h.shas)-1]
	filled := func(b *testing.B) *gitrepo.Repo {
		b.StopTimer()
		defer b.StartTimer()
		repo := openRepo(b, emptyBare(b))
		f := NewFetcher(store, repo, FetcherOptions{})
		for _, sha := range h.shas {
			if _, err := f.Fetch(context.Background(), sha); err != nil {
				b.Fatal(err)
			}
		}
		return repo
	}
	readTip := func(b *testing.B, repo *gitrepo.Repo) time.Duration {
		b.StopTimer()
		defer b.StartTimer()
		began := time.Now()
		if _, err := repo.Files(tip, func(string) bool { return true }); err != nil {
			b.Fatal(err)
		}
		return time.Since(began)
	}
	var c gitrepo.Compaction
	var before, after time.Duration
	for b.Loop() {
		repo := filled(b)
		before += readTip(b, repo)
		var err error
		if c, err = repo.Compact(context.Background(), 1); err != nil || c.Packs == 0 {
			b.Fatalf("merge: %+v, %v", c, err)
		}
		after += readTip(b, repo)
	}
	b.ReportMetric(float64(c.Packs), "packs")
	b.ReportMetric(float64(c.Objects), "objects")
	b.ReportMetric(float64(c.Bytes), "merged-bytes")
	b.ReportMetric(float64(before.Milliseconds())/float64(b.N), "read-ms-before")
	b.ReportMetric(float64(after.Milliseconds())/float64(b.N), "read-ms-after")
}

// BenchmarkGitFetch is git fetch of the commits BenchmarkFetch brings, from
// a local bare repository (no network: the floor of what git costs), into
// refs/heads/main as a clone's remote branch: git negotiates from the
// repository's refs, and would send the whole history each time to a
// repository that has none. The bytes are the packs git sent, as git
// writes them to GIT_TRACE_PACKFILE.
func BenchmarkGitFetch(b *testing.B) {
	h := syntheticRepo(b)
	commits := float64(len(h.shas) - 1)
	trace := filepath.Join(scratch(b), "pack")
	fetch := func(b *testing.B, dir, sha string) uint64 {
		if err := gitEnv(dir, []string{"GIT_TRACE_PACKFILE=" + trace}, "fetch", "--quiet", h.bare, sha+":refs/heads/main"); err != nil {
			b.Fatal(err)
		}
		n, err := takeSize(trace)
		if err != nil {
			b.Fatal(err)
		}
		return n
	}
	fresh := func(b *testing.B) string {
		b.StopTimer()
		defer b.StartTimer()
		return baseRepo(b, h)
	}
	b.Run("per-commit", func(b *testing.B) {
		var bytes uint64
		for b.Loop() {
			dir := fresh(b)
			bytes = 0
			for _, sha := range h.shas[1:] {
				bytes += fetch(b, dir, sha)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N)/commits, "ms/commit")
		b.ReportMetric(float64(bytes)/commits, "bytes/commit")
	})
	b.Run("catch-up", func(b *testing.B) {
		var bytes uint64
		for b.Loop() {
			bytes = fetch(b, fresh(b), h.shas[len(h.shas)-1])
		}
		b.ReportMetric(float64(bytes), "bytes")
	})
}

// BenchmarkFormats measures the three candidate formats on the sample
// repository and the synthetic one: per revision, an incremental git pack
// as go-git's encoder makes it and as balcony publishes it (thin), a git
// bundle of the same range (git bundle create
// prev..sha), and a tree archive (git archive | gzip); plus the full pack
// and a full bundle. Run with -benchtime=1x: it reports sizes and the time
// each format takes to make, per commit.
func BenchmarkFormats(b *testing.B) {
	for _, repo := range []struct {
		name string
		h    func(testing.TB) history
	}{{"sample", sampleRepo}, {"synthetic", syntheticRepo}} {
		b.Run(repo.name, func(b *testing.B) {
			h := repo.h(b)
			src := openRepo(b, h.bare)
			commits := float64(len(h.shas) - 1)
			var packB, thinB, bundleB, tarB int
			var packT, thinT, bundleT, tarT time.Duration
			for b.Loop() {
				packB, thinB, bundleB, tarB, packT, thinT, bundleT, tarT = 0, 0, 0, 0, 0, 0, 0, 0
				for n := 1; n < len(h.shas); n++ {
					start := time.Now()
					var buf bytes.Buffer
					err := src.WithStorage(func(s storage.Storer) error {
						buf.Reset()
						_, err := EncodePack(s, plumbing.NewHash(h.shas[n]), []plumbing.Hash{plumbing.NewHash(h.shas[n-1])}, &buf)
						return err
					})
					if err != nil {
						b.Fatal(err)
					}
					packT += time.Since(start)
					packB += buf.Len()

					start = time.Now()
					err = src.WithStorage(func(s storage.Storer) error {
						buf.Reset()
						_, err := EncodeThinPack(s, plumbing.NewHash(h.shas[n]), plumbing.NewHash(h.shas[n-1]), &buf)
						return err
					})
					if err != nil {
						b.Fatal(err)
					}
					thinT += time.Since(start)
					thinB += buf.Len()

					// A bundle names refs: one for the revision.
					if _, err := gitIn(h.bare, "update-ref", "refs/bench/tip", h.shas[n]); err != nil {
						b.Fatal(err)
					}
					start = time.Now()
					bundleB += gitBytes(b, h.bare, "bundle", "create", "-q", "-", h.shas[n-1]+"..refs/bench/tip")
					bundleT += time.Since(start)

					start = time.Now()
					tarB += gitBytes(b, h.bare, "archive", "--format=tar.gz", h.shas[n])
					tarT += time.Since(start)
				}
			}
			var full bytes.Buffer
			last := plumbing.NewHash(h.shas[len(h.shas)-1])
			if err := src.WithStorage(func(s storage.Storer) error { _, err := EncodePack(s, last, nil, &full); return err }); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(packB)/commits, "pack-B/commit")
			b.ReportMetric(float64(thinB)/commits, "thin-B/commit")
			b.ReportMetric(float64(thinT.Microseconds())/commits/1000, "thin-ms/commit")
			b.ReportMetric(float64(bundleB)/commits, "bundle-B/commit")
			b.ReportMetric(float64(tarB)/commits, "targz-B/commit")
			b.ReportMetric(float64(packT.Microseconds())/commits/1000, "pack-ms/commit")
			b.ReportMetric(float64(bundleT.Microseconds())/commits/1000, "bundle-ms/commit")
			b.ReportMetric(float64(tarT.Microseconds())/commits/1000, "targz-ms/commit")
			b.ReportMetric(float64(full.Len()), "full-pack-B")
			b.ReportMetric(float64(gitBytes(b, h.bare, "bundle", "create", "-q", "-", "--all")), "full-bundle-B")
		})
	}
}

func gitBytes(tb testing.TB, dir string, args ...string) int {
	tb.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		tb.Fatalf("git %v: %v", args, err)
	}
	return len(out)
}
