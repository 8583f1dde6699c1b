package codebus

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/revlist"
	"github.com/go-git/go-git/v5/storage"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/balcony-dev/balcony/pkg/bus/bustest"
	"github.com/balcony-dev/balcony/pkg/gitrepo"
	"github.com/balcony-dev/balcony/pkg/gitrepo/gittest"
)

// world is a git repository with a publisher, a bus, and an agent's empty
// repository with a fetcher.
type world struct {
	t     *testing.T
	git   *gittest.Fixture
	src   *gitrepo.Repo
	store jetstream.ObjectStore
	pub   *Publisher
	agent *gitrepo.Repo
	fetch *Fetcher
	last  string // the revision published last
}

func newWorld(t *testing.T, po PublisherOptions, fo FetcherOptions) *world {
	t.Helper()
	f := gittest.New(t)
	f.Commit("site", map[string]string{"manifests/site.pp": "node default {}\n", "README": "code\n"})
	f.Push("main")
	src, err := gitrepo.Open(f.Bare)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = src.Close() })
	c := bustest.Start(t)
	store, err := c.JS.ObjectStore(context.Background(), Bucket)
	if err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, git: f, src: src, store: store, pub: NewPublisher(store, src, po)}
	w.agent = emptyRepo(t)
	w.fetch = NewFetcher(store, w.agent, fo)
	return w
}

func emptyRepo(t *testing.T) *gitrepo.Repo {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "agent.git")
	if out, err := exec.Command("git", "init", "--quiet", "--bare", dir).CombinedOutput(); err != nil {
		t.Fatalf("git init: %v\n%s", err, out)
	}
	r, err := gitrepo.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

// commit commits files, pushes and publishes the new tip against the last
// one published.
func (w *world) commit(n int, files map[string]string) (string, Info) {
	w.t.Helper()
	sha := w.git.Commit(fmt.Sprintf("change %d", n), files)
	w.git.Push("main")
	i, err := w.pub.Publish(context.Background(), sha, w.last)
	if err != nil {
		w.t.Fatalf("publish %s: %v", sha, err)
	}
	w.last = sha
	return sha, i
}

func (w *world) mustFetch(sha string) FetchResult {
	w.t.Helper()
	res, err := w.fetch.Fetch(context.Background(), sha)
	if err != nil {
		w.t.Fatalf("fetch %s: %v", sha, err)
	}
	w.hasVerified(sha)
	return res
}

// hasVerified checks the agent's repository holds sha and its whole tree.
func (w *world) hasVerified(sha string) {
	w.t.Helper()
	err := w.agent.WithStorage(func(s storage.Storer) error { return Verify(s, plumbing.NewHash(sha)) })
	if err != nil {
		w.t.Fatalf("agent's repository: %v", err)
	}
}

func (w *world) agentHas(sha string) bool {
	ok, err := w.fetch.has(sha)
	if err != nil {
		w.t.Fatal(err)
	}
	return ok
}

func kinds(res FetchResult) string {
	var out []string
	for _, i := range res.Packs {
		out = append(out, i.Kind)
	}
	return strings.Join(out, ",")
}

func TestFirstRevisionIsFullThenPacksAreIncremental(t *testing.T) {
	w := newWorld(t, PublisherOptions{}, FetcherOptions{})
	first := w.git.Rev("HEAD")
	i, err := w.pub.Publish(context.Background(), first, "")
	if err != nil {
		t.Fatal(err)
	}
	w.last = first
	if i.Kind != KindFull || i.Full != first || len(i.Bases) != 0 {
		t.Fatalf("first revision: %+v, want a full pack", i)
	}
	second, inc := w.commit(2, map[string]string{"manifests/site.pp": "node default { notify { 'hi': } }\n"})
	if inc.Kind != KindPack || inc.Bases[0] != first || inc.Full != first || inc.Depth != 1 {
		t.Fatalf("second revision: %+v, want a pack on %s", inc, first)
	}
	// One commit changing one file: the commit, its root tree, manifests/
	// and the blob.
	if inc.Objects != 4 {
		t.Errorf("pack of a one-file change holds %d objects, want 4", inc.Objects)
	}
	again, err := w.pub.Publish(context.Background(), second, first)
	if err != nil || !reflect.DeepEqual(again, inc) {
		t.Errorf("publishing again: %+v, %v; want the same pack", again, err)
	}

	res := w.mustFetch(second)
	if kinds(res) != "full,pack" || res.Packs[1].SHA != second {
		t.Errorf("a fresh agent fetched %s, want the full pack then the pack", kinds(res))
	}
	if res := w.mustFetch(second); !res.Present || len(res.Packs) != 0 {
		t.Errorf("fetching a present revision downloaded %+v", res)
	}
	third, _ := w.commit(3, map[string]string{"README": "more code\n"})
	if res := w.mustFetch(third); kinds(res) != "pack" {
		t.Errorf("an agent one behind fetched %s, want one pack", kinds(res))
	}
}

// An agent stopped for 10 commits catches up from the bus alone: through
// the chain of packs, or from the newest full pack when the chain is long.
func TestOfflineCatchUp(t *testing.T) {
	for _, tc := range []struct {
		name      string
		fullEvery int
		want      string
	}{
		{"chain of packs", 0, "pack,pack,pack,pack,pack,pack,pack,pack,pack,pack"},
		{"from the newest full pack", 3, "full,pack"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, PublisherOptions{FullEvery: tc.fullEvery}, FetcherOptions{MaxChain: 4})
			if tc.fullEvery == 0 {
				w.fetch.opts.MaxChain = DefaultMaxChain
			}
			start, _ := w.commit(0, map[string]string{"a.pp": "0\n"})
			w.mustFetch(start)
			var tip string
			for n := 1; n <= 10; n++ {
				tip, _ = w.commit(n, map[string]string{fmt.Sprintf("m%d.pp", n%3): fmt.Sprintf("class m { %d }\n", n)})
			}
			res := w.mustFetch(tip)
			if got := kinds(res); got != tc.want {
				t.Errorf("catching up 10 commits fetched %s, want %s", got, tc.want)
			}
			if res.Packs[len(res.Packs)-1].SHA != tip {
				t.Errorf("last pack is %s, want %s", res.Packs[len(res.Packs)-1].SHA, tip)
			}
		})
	}
}

// A rewind (a revision already below the base) still gets code of its own.
func TestRewindGetsAFullPack(t *testing.T) {
	w := newWorld(t, PublisherOptions{}, FetcherOptions{})
	first, _ := w.commit(1, map[string]string{"a.pp": "1\n"})
	w.commit(2, map[string]string{"a.pp": "2\n"})
	w.last = w.git.Rev("HEAD")
	i, err := w.pub.Publish(context.Background(), w.git.Rev("HEAD~2"), w.last)
	if err != nil || i.Kind != KindFull {
		t.Fatalf("publish a rewind: %+v, %v; want a full pack", i, err)
	}
	_ = first
	w.mustFetch(w.git.Rev("HEAD~2"))
}

func TestNoCode(t *testing.T) {
	w := newWorld(t, PublisherOptions{}, FetcherOptions{})
	_, err := w.fetch.Fetch(context.Background(), w.git.Rev("HEAD"))
	if !errors.Is(err, ErrNoCode) {
		t.Errorf("fetch of an unpublished revision: %v, want ErrNoCode", err)
	}
	if _, err := w.fetch.Fetch(context.Background(), "HEAD"); !errors.Is(err, ErrBadRevision) {
		t.Errorf("fetch of HEAD: %v, want ErrBadRevision", err)
	}
}

// A tampered object in the store is refused with a reason, and nothing of
// it is stored.
func TestTamperedCodeIsRefused(t *testing.T) {
	w := newWorld(t, PublisherOptions{}, FetcherOptions{})
	base, _ := w.commit(1, map[string]string{"a.pp": "1\n"})
	w.mustFetch(base)
	target := w.git.Commit("target", map[string]string{"a.pp": "target\n", "b/c.pp": "c\n"})
	other := w.git.Commit("other", map[string]string{"a.pp": "other\n"})
	w.git.Push("main")

	objectsOf := func(want, have string) []plumbing.Hash {
		var hashes []plumbing.Hash
		err := w.src.WithStorage(func(s storage.Storer) error {
			var err error
			hashes, err = revlist.Objects(s, []plumbing.Hash{plumbing.NewHash(want)}, []plumbing.Hash{plumbing.NewHash(have)})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return hashes
	}
	encode := func(hashes []plumbing.Hash) []byte {
		var buf bytes.Buffer
		err := w.src.WithStorage(func(s storage.Storer) error {
			_, err := packfile.NewEncoder(&buf, s, false).Encode(hashes, 0)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	blob := w.git.GitIn(w.git.Bare, "rev-parse", target+":b/c.pp")
	without := func(hashes []plumbing.Hash, drop string) []plumbing.Hash {
		var out []plumbing.Hash
		for _, h := range hashes {
			if h.String() != drop {
				out = append(out, h)
			}
		}
		return out
	}
	good := encode(objectsOf(target, base))
	corrupt := bytes.Clone(good)
	corrupt[len(corrupt)/2] ^= 0xff

	for _, tc := range []struct {
		name, reason string
		pack         []byte
	}{
		{"another revision's objects", "does not hold commit " + target, encode(objectsOf(other, target))},
		{"a file left out", `file "/b/c.pp": blob ` + blob + " missing", encode(without(objectsOf(target, base), blob))},
		{"corrupted bytes", "pack does not parse", corrupt},
		{"not a pack", "pack does not parse", []byte("PACK but not really")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			meta := Info{SHA: target, Bases: []string{base}, Objects: 3, Full: base, Depth: 2}.metadata()
			_, err := w.store.Put(context.Background(), jetstream.ObjectMeta{Name: ObjectName(KindPack, target), Metadata: meta}, bytes.NewReader(tc.pack))
			if err != nil {
				t.Fatal(err)
			}
			_, err = w.fetch.Fetch(context.Background(), target)
			if !errors.Is(err, ErrCodeUnverified) || !strings.Contains(err.Error(), tc.reason) {
				t.Fatalf("fetch of a tampered pack: %v, want ErrCodeUnverified saying %q", err, tc.reason)
			}
			if w.agentHas(target) {
				t.Error("the tampered revision's commit is in the agent's repository")
			}
		})
	}

	t.Run("metadata", func(t *testing.T) {
		meta := Info{SHA: other, Objects: 3}.metadata()
		meta[metaFormat] = "99"
		if _, err := w.store.Put(context.Background(), jetstream.ObjectMeta{Name: ObjectName(KindPack, target), Metadata: meta}, bytes.NewReader(good)); err != nil {
			t.Fatal(err)
		}
		if _, err := w.fetch.Fetch(context.Background(), target); !errors.Is(err, ErrCodeUnverified) || !strings.Contains(err.Error(), "format") {
			t.Errorf("fetch with unknown format: %v, want ErrCodeUnverified", err)
		}
	})

	// The genuine pack, put back, is taken.
	meta := Info{SHA: target, Bases: []string{base}, Objects: 6, Full: base, Depth: 1}.metadata()
	if _, err := w.store.Put(context.Background(), jetstream.ObjectMeta{Name: ObjectName(KindPack, target), Metadata: meta}, bytes.NewReader(good)); err != nil {
		t.Fatal(err)
	}
	w.mustFetch(target)
}

// Verify hashes content again: an object whose content does not match its
// id is refused.
func TestVerifyRehashes(t *testing.T) {
	w := newWorld(t, PublisherOptions{}, FetcherOptions{})
	sha := w.git.Rev("HEAD")
	var pack bytes.Buffer
	err := w.src.WithStorage(func(s storage.Storer) error {
		_, err := EncodePack(s, plumbing.NewHash(sha), nil, &pack)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	m, err := parsePack(pack.Bytes(), nil)
	if err != nil {
		t.Fatal(err)
	}
	blob := plumbing.NewHash(w.git.GitIn(w.git.Bare, "rev-parse", sha+":README"))
	forged := m.NewEncodedObject()
	forged.SetType(plumbing.BlobObject)
	wr, _ := forged.Writer()
	_, _ = wr.Write([]byte("forged\n"))
	_ = wr.Close()
	m.Objects[blob] = forged // stored under the genuine blob's id
	err = Verify(m, plumbing.NewHash(sha))
	if !errors.Is(err, ErrCodeUnverified) || !strings.Contains(err.Error(), "content hashes to") {
		t.Errorf("verify with a forged blob: %v, want ErrCodeUnverified (content hashes to ...)", err)
	}
}

// A pack relative to a base is thin: a file edited by one line travels as
// a delta against its previous version, and the agent resolves it against
// its own copy.
func TestPacksAreThin(t *testing.T) {
	w := newWorld(t, PublisherOptions{}, FetcherOptions{})
	var big strings.Builder
	for n := range 400 {
		fmt.Fprintf(&big, "  file { '/etc/motd.d/%d': content => 'line %d' }\n", n, n)
	}
	first, _ := w.commit(1, map[string]string{"manifests/big.pp": big.String()})
	w.mustFetch(first)
	second, inc := w.commit(2, map[string]string{"manifests/big.pp": big.String() + "  notify { 'one more': }\n"})
	var plain bytes.Buffer
	err := w.src.WithStorage(func(s storage.Storer) error {
		_, err := EncodePack(s, plumbing.NewHash(second), []plumbing.Hash{plumbing.NewHash(first)}, &plain)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if inc.Size*4 > uint64(plain.Len()) {
		t.Errorf("thin pack of a one-line edit: %d bytes, want under a quarter of the plain pack's %d", inc.Size, plain.Len())
	}
	if res := w.mustFetch(second); kinds(res) != "pack" {
		t.Errorf("fetched %s, want the thin pack", kinds(res))
	}
}

// A fetch stopped by a bad pack in the middle of a chain keeps the packs
// stored before it, stores nothing of the bad one, and the next fetch
// resumes after the good ones.
func TestInterruptedFetchResumes(t *testing.T) {
	w := newWorld(t, PublisherOptions{}, FetcherOptions{})
	start, _ := w.commit(0, map[string]string{"a.pp": "0\n"})
	w.mustFetch(start)
	var shas []string
	for n := 1; n <= 3; n++ {
		sha, _ := w.commit(n, map[string]string{"a.pp": fmt.Sprintf("%d\n", n)})
		shas = append(shas, sha)
	}
	ctx := context.Background()
	name := ObjectName(KindPack, shas[1])
	good, err := w.store.GetBytes(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	oi, err := w.store.GetInfo(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	put := func(data []byte) {
		t.Helper()
		if _, err := w.store.Put(ctx, jetstream.ObjectMeta{Name: name, Metadata: oi.Metadata}, bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
	}
	put([]byte("not a pack"))
	if _, err := w.fetch.Fetch(ctx, shas[2]); !errors.Is(err, ErrCodeUnverified) {
		t.Fatalf("fetch through a bad pack: %v, want ErrCodeUnverified", err)
	}
	if !w.agentHas(shas[0]) || w.agentHas(shas[1]) || w.agentHas(shas[2]) {
		t.Fatalf("after the bad pack the agent has 1: %v, 2: %v, 3: %v; want 1 only", w.agentHas(shas[0]), w.agentHas(shas[1]), w.agentHas(shas[2]))
	}
	w.hasVerified(shas[0])
	put(good)
	res := w.mustFetch(shas[2])
	if kinds(res) != "pack,pack" || res.Packs[0].SHA != shas[1] {
		t.Errorf("resumed fetch downloaded %s from %s, want the packs of 2 and 3", kinds(res), res.Packs[0].SHA)
	}
}

// A push that merges a side branch publishes one pack with the side
// commits; an agent fetches and verifies the merge.
func TestMergePack(t *testing.T) {
	w := newWorld(t, PublisherOptions{}, FetcherOptions{})
	start, _ := w.commit(0, map[string]string{"a.pp": "0\n"})
	w.mustFetch(start)
	w.git.Git("checkout", "--quiet", "-b", "side")
	w.git.Commit("S1", map[string]string{"s/one.pp": "1\n"})
	w.git.Commit("S2", map[string]string{"s/two.pp": "2\n"})
	w.git.Git("checkout", "--quiet", "main")
	w.git.Commit("C", map[string]string{"c.pp": "c\n"})
	m := w.git.Merge("side", "M")
	w.git.Push("main")
	i, err := w.pub.Publish(context.Background(), m, start)
	if err != nil {
		t.Fatal(err)
	}
	if i.Kind != KindPack || i.Objects < 4 {
		t.Errorf("merge published as %+v, want one pack of its 4 commits and their objects", i)
	}
	if res := w.mustFetch(m); kinds(res) != "pack" {
		t.Errorf("fetched %s, want one pack", kinds(res))
	}
	if !w.agentHas(w.git.Rev("side")) {
		t.Error("the side branch's commit is missing from the agent's repository")
	}
}

// TestFetchedPacksAreMerged: an agent's local copy, one pack stored per
// revision fetched, merges them past its limit; every revision stays
// whole and the next fetch builds on the merged pack.
func TestFetchedPacksAreMerged(t *testing.T) {
	w := newWorld(t, PublisherOptions{}, FetcherOptions{})
	local, err := gitrepo.Local(filepath.Join(t.TempDir(), "local.git"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = local.Close() })
	const limit = 3
	local.SetUpkeep(gitrepo.Upkeep{PackLimit: limit})
	w.agent, w.fetch = local, NewFetcher(w.store, local, FetcherOptions{})
	var shas []string
	for n := range 8 {
		sha, _ := w.commit(n, map[string]string{fmt.Sprintf("m%d.pp", n): fmt.Sprintf("class m%d {}\n", n)})
		shas = append(shas, sha)
		w.mustFetch(sha)
		packs, err := filepath.Glob(filepath.Join(local.Path(), "objects", "pack", "pack-*.pack"))
		if err != nil {
			t.Fatal(err)
		}
		if len(packs) > limit {
			t.Fatalf("after fetch %d the local copy holds %d packs, more than its limit %d", n, len(packs), limit)
		}
	}
	for _, sha := range shas {
		w.hasVerified(sha)
	}
}
