package gitrepo

import (
	"container/heap"
	"fmt"
	"sort"
	"strings"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/balcony-dev/balcony/pkg/protocol"
)

// DefaultLimit is the walk limit NewCommits uses when given limit <= 0.
const DefaultLimit = 1000

// slop is how many uninteresting commits the walk still visits after the
// queue holds only uninteresting ones, to tolerate small clock skew (git
// uses the same constant).
const slop = 5

// NewCommits returns the commits reachable from newRev and not from oldRev,
// parents before children; among commits whose parents are all listed, the
// earlier committer time comes first, then the smaller sha, so the order is
// deterministic. Parents keep git's order (first parent first).
//
// An empty oldRev means a new branch: only the tip commit is returned, never
// the branch's whole history. oldRev == newRev returns no commit. oldRev need
// not be an ancestor of newRev (a forced push).
//
// The walk visits at most limit commits reachable from newRev (DefaultLimit
// when limit <= 0); past it, the error wraps ErrTooManyCommits. Unknown
// revisions wrap ErrUnknownRevision.
func (r *Repo) NewCommits(oldRev, newRev string, limit int) ([]protocol.Commit, error) {
	if limit <= 0 {
		limit = DefaultLimit
	}
	var out []protocol.Commit
	err := r.do(func(g *git.Repository) error {
		out = nil
		newHash, err := resolve(g, newRev)
		if err != nil {
			return fmt.Errorf("new %q: %w", newRev, err)
		}
		if oldRev == "" {
			c, err := g.CommitObject(newHash)
			if err != nil {
				return err
			}
			out = []protocol.Commit{toCommit(c)}
			return nil
		}
		oldHash, err := resolve(g, oldRev)
		if err != nil {
			return fmt.Errorf("old %q: %w", oldRev, err)
		}
		commits, err := walk(g, oldHash, newHash, limit)
		if err != nil {
			return err
		}
		for _, c := range topoSort(commits) {
			out = append(out, toCommit(c))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("commits %s..%s: %w", oldRev, newRev, err)
	}
	return out, nil
}

// toCommit converts a go-git commit to the message type.
func toCommit(c *object.Commit) protocol.Commit {
	parents := make([]string, len(c.ParentHashes))
	for i, p := range c.ParentHashes {
		parents[i] = p.String()
	}
	subject, _, _ := strings.Cut(c.Message, "\n")
	return protocol.Commit{
		SHA:         c.Hash.String(),
		Parents:     parents,
		Author:      c.Author.Name,
		AuthorEmail: c.Author.Email,
		Time:        c.Author.When,
		Subject:     strings.TrimRight(subject, "\r "),
		Message:     c.Message,
	}
}

// node is one commit met by the walk.
type node struct {
	c             *object.Commit
	uninteresting bool // reachable from old
	processed     bool // popped at least once
	queued        bool
	counted       bool // counted against the limit
}

// walk paints commits reachable from old uninteresting and collects the
// others reachable from new, newest first like git's revision walk: it stops
// once the queue holds only uninteresting commits no newer than the oldest
// interesting one (plus slop). A commit first met as interesting and later
// found reachable from old is repainted, and its ancestors with it.
func walk(g *git.Repository, old, new plumbing.Hash, limit int) ([]*object.Commit, error) {
	nodes := map[plumbing.Hash]*node{}
	q := &queue{}
	load := func(h plumbing.Hash, uninteresting bool) (*node, error) {
		if n, ok := nodes[h]; ok {
			return n, nil
		}
		c, err := g.CommitObject(h)
		if err != nil {
			return nil, fmt.Errorf("read commit %s: %w", h, err)
		}
		n := &node{c: c, uninteresting: uninteresting, queued: true}
		nodes[h] = n
		heap.Push(q, n)
		return n, nil
	}
	paint := func(n *node) {
		if n.uninteresting {
			return
		}
		n.uninteresting = true
		if n.processed && !n.queued {
			n.queued = true
			heap.Push(q, n) // popped again, it paints its parents
		}
	}
	if _, err := load(old, true); err != nil {
		return nil, err
	}
	if n, err := load(new, false); err != nil {
		return nil, err
	} else if n.uninteresting {
		return nil, nil // new is old
	}
	visited, extra := 0, slop
	for q.Len() > 0 {
		if q.onlyUninteresting(nodes) {
			if extra == 0 {
				break
			}
			extra--
		}
		n := heap.Pop(q).(*node)
		n.queued, n.processed = false, true
		if !n.uninteresting && !n.counted {
			n.counted = true
			if visited++; visited > limit {
				return nil, fmt.Errorf("more than %d commits: %w", limit, ErrTooManyCommits)
			}
		}
		for _, ph := range n.c.ParentHashes {
			p, known := nodes[ph]
			if !known {
				if _, err := load(ph, n.uninteresting); err != nil {
					return nil, err
				}
				continue
			}
			if n.uninteresting {
				paint(p)
			}
		}
	}
	var out []*object.Commit
	for _, n := range nodes {
		if !n.uninteresting {
			out = append(out, n.c)
		}
	}
	return out, nil
}

// onlyUninteresting tells whether the walk may stop: every queued commit is
// uninteresting and none is newer than the oldest interesting commit met, so
// (with monotonic commit times) none can reach an interesting one.
func (q *queue) onlyUninteresting(nodes map[plumbing.Hash]*node) bool {
	var newest *node
	for _, n := range *q {
		if !n.uninteresting {
			return false
		}
		if newest == nil || n.c.Committer.When.After(newest.c.Committer.When) {
			newest = n
		}
	}
	for _, n := range nodes {
		if !n.uninteresting && !n.c.Committer.When.After(newest.c.Committer.When) {
			return false
		}
	}
	return true
}

// queue is a max-heap of nodes by committer time, then sha.
type queue []*node

func (q queue) Len() int { return len(q) }
func (q queue) Less(i, j int) bool {
	ti, tj := q[i].c.Committer.When, q[j].c.Committer.When
	if !ti.Equal(tj) {
		return ti.After(tj)
	}
	return q[i].c.Hash.String() > q[j].c.Hash.String()
}
func (q queue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *queue) Push(x any)   { *q = append(*q, x.(*node)) }
func (q *queue) Pop() any {
	old := *q
	n := old[len(old)-1]
	*q = old[:len(old)-1]
	return n
}

// topoSort orders commits parents first (Kahn's algorithm); among ready
// commits, the earliest committer time wins, then the smallest sha.
func topoSort(commits []*object.Commit) []*object.Commit {
	in := make(map[plumbing.Hash]bool, len(commits))
	for _, c := range commits {
		in[c.Hash] = true
	}
	pending := map[plumbing.Hash]int{}               // unlisted parents in the set
	children := map[plumbing.Hash][]*object.Commit{} // within the set
	var ready []*object.Commit
	for _, c := range commits {
		seen := map[plumbing.Hash]bool{}
		for _, p := range c.ParentHashes {
			if in[p] && !seen[p] {
				seen[p] = true
				pending[c.Hash]++
				children[p] = append(children[p], c)
			}
		}
		if pending[c.Hash] == 0 {
			ready = append(ready, c)
		}
	}
	out := make([]*object.Commit, 0, len(commits))
	for len(ready) > 0 {
		sort.Slice(ready, func(i, j int) bool { return before(ready[i], ready[j]) })
		c := ready[0]
		ready = ready[1:]
		out = append(out, c)
		for _, ch := range children[c.Hash] {
			if pending[ch.Hash]--; pending[ch.Hash] == 0 {
				ready = append(ready, ch)
			}
		}
	}
	return out
}

func before(a, b *object.Commit) bool {
	ta, tb := a.Committer.When, b.Committer.When
	if !ta.Equal(tb) {
		return ta.Before(tb)
	}
	return a.Hash.String() < b.Hash.String()
}
