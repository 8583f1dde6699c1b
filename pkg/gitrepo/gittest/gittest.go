// Package gittest builds real git repositories for tests with the git
// command line: a bare repository (what a push lands in) and a work clone
// to commit and push from. Commit times advance one minute (Fixture.Step) per
// commit from a fixed date, so shas and orders are the same on every run.
package gittest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Fixture is a bare repository and a work clone of it, both in t.TempDir.
type Fixture struct {
	T    testing.TB
	Bare string // the bare repository, origin of Work
	Work string // a non-bare clone with user.name and user.email set
	// Step is the time between two commits, one minute by default; 0
	// gives every commit the same time.
	Step time.Duration
	n    int // commits made, for the dates
}

// Epoch is the date of the first commit a Fixture makes.
var Epoch = time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC)

// New creates the bare repository (default branch main) and its clone. It
// skips the test when git is not installed.
func New(t testing.TB) *Fixture {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	dir := t.TempDir()
	f := &Fixture{T: t, Step: time.Minute, Bare: filepath.Join(dir, "origin.git"), Work: filepath.Join(dir, "work")}
	f.run(dir, "init", "--quiet", "--bare", "-b", "main", f.Bare)
	f.run(dir, "clone", "--quiet", f.Bare, f.Work)
	f.Git("config", "user.name", "Ada Lovelace")
	f.Git("config", "user.email", "ada@example.com")
	f.Git("checkout", "--quiet", "-B", "main")
	return f
}

// Git runs git in the work clone and returns its trimmed output; a failure
// fails the test.
func (f *Fixture) Git(args ...string) string {
	f.T.Helper()
	return f.run(f.Work, args...)
}

// GitIn runs git in dir.
func (f *Fixture) GitIn(dir string, args ...string) string {
	f.T.Helper()
	return f.run(dir, args...)
}

// Commit writes files (path → content; "" removes the file) in the work
// clone, commits them all with msg and returns the new sha.
func (f *Fixture) Commit(msg string, files map[string]string) string {
	f.T.Helper()
	for name, content := range files {
		path := filepath.Join(f.Work, filepath.FromSlash(name))
		if content == "" {
			f.Git("rm", "--quiet", "-f", name)
			continue
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			f.T.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			f.T.Fatal(err)
		}
		f.Git("add", name)
	}
	f.Git("commit", "--quiet", "--allow-empty", "-m", msg)
	return f.Git("rev-parse", "HEAD")
}

// Merge merges branch into the current branch with a merge commit and
// returns its sha.
func (f *Fixture) Merge(branch, msg string) string {
	f.T.Helper()
	f.Git("merge", "--quiet", "--no-ff", "-m", msg, branch)
	return f.Git("rev-parse", "HEAD")
}

// Push pushes refspecs to the bare repository.
func (f *Fixture) Push(refspecs ...string) {
	f.T.Helper()
	f.Git(append([]string{"push", "--quiet", "origin"}, refspecs...)...)
}

// Rev returns the sha rev names in the work clone.
func (f *Fixture) Rev(rev string) string {
	f.T.Helper()
	return f.Git("rev-parse", rev)
}

func (f *Fixture) run(dir string, args ...string) string {
	f.T.Helper()
	date := Epoch.Add(time.Duration(f.n) * f.Step).Format(time.RFC3339)
	if len(args) > 0 && (args[0] == "commit" || args[0] == "merge") {
		f.n++
	}
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL="+os.DevNull,
		"GIT_AUTHOR_DATE="+date,
		"GIT_COMMITTER_DATE="+date,
		"GIT_TERMINAL_PROMPT=0",
	)
	out, err := cmd.CombinedOutput()
	if err != nil {
		f.T.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// String describes the fixture in failure messages.
func (f *Fixture) String() string { return fmt.Sprintf("bare %s, work %s", f.Bare, f.Work) }
