package approver_test

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/balcony-dev/balcony/pkg/gitrepo"
	"github.com/balcony-dev/balcony/pkg/protocol"
)

// Revisions. Every test commit has revParent as first parent, unless it
// says otherwise; revLate is known to the code reader only after a Fetch.
var (
	revParent = strings.Repeat("1", 40)
	revLate   = strings.Repeat("2", 40)
	revNever  = strings.Repeat("3", 40)
)

// sha makes a distinct commit sha per test commit.
func sha(name string) string {
	s := fmt.Sprintf("%x", name)
	return (s + strings.Repeat("c", 40))[:40]
}

// fakeCode is the Puppet repository: testdata/parent at revParent (and at
// revLate once fetched), testdata/commit at any other revision in commits.
type fakeCode struct {
	mu      sync.Mutex
	trees   map[string]string          // rev -> testdata directory
	commits map[string]protocol.Commit // what git says of each commit
	late    map[string]string          // known after a Fetch
	fetches int
	reads   []string // revisions Files was asked for, in order
	// changes are what Changes returns for a commit (none by default).
	changes map[string][]gitrepo.Change
}

// Changes returns the changes set for to with setChanges.
func (c *fakeCode) Changes(from, to string, keep func(string) bool) ([]gitrepo.Change, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.trees[to]; !ok {
		return nil, fmt.Errorf("changes to %s: %w", to, gitrepo.ErrUnknownRevision)
	}
	var out []gitrepo.Change
	for _, ch := range c.changes[to] {
		if keep(ch.Path) {
			out = append(out, ch)
		}
	}
	return out, nil
}

func (c *fakeCode) setChanges(sha string, changes []gitrepo.Change) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.changes == nil {
		c.changes = map[string][]gitrepo.Change{}
	}
	c.changes[sha] = changes
}

func newFakeCode() *fakeCode {
	return &fakeCode{
		trees: map[string]string{revParent: "parent"},
		late:  map[string]string{revLate: "parent"},
	}
}

// addCommit makes the commit known as c says, with its own tree
// (testdata/commit).
func (c *fakeCode) addCommit(commit protocol.Commit) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.trees[commit.SHA] = "commit"
	if c.commits == nil {
		c.commits = map[string]protocol.Commit{}
	}
	c.commits[commit.SHA] = commit
}

func (c *fakeCode) Commit(rev string) (protocol.Commit, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	commit, ok := c.commits[rev]
	if !ok {
		return protocol.Commit{}, fmt.Errorf("commit %s: %w", rev, gitrepo.ErrUnknownRevision)
	}
	return commit, nil
}

func (c *fakeCode) Files(rev string, keep func(string) bool) (map[string][]byte, error) {
	c.mu.Lock()
	c.reads = append(c.reads, rev)
	dir, ok := c.trees[rev]
	c.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("files at %s: %w", rev, gitrepo.ErrUnknownRevision)
	}
	root := filepath.Join("testdata", dir)
	out := map[string][]byte{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		if rel = filepath.ToSlash(rel); !keep(rel) {
			return nil
		}
		out[rel], err = os.ReadFile(p)
		return err
	})
	return out, err
}

func (c *fakeCode) Fetch(context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fetches++
	for rev, dir := range c.late {
		c.trees[rev] = dir
	}
	return nil
}

func (c *fakeCode) stats() (fetches int, reads []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fetches, append([]string(nil), c.reads...)
}
