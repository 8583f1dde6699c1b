package committer

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
)

// ErrMalformedUpdate: a post-receive line is not "<old> <new> <ref>".
var ErrMalformedUpdate = errors.New("malformed ref update")

// RefUpdate is one ref a push changed, as git's post-receive hook reads it.
// Old is all zeros for a created ref, New all zeros for a deleted one.
type RefUpdate struct {
	Old string
	New string
	Ref string
}

// isZero tells whether sha stands for "no commit" (git writes all zeros).
func isZero(sha string) bool { return sha == "" || strings.Trim(sha, "0") == "" }

// ParsePostReceive reads the lines git gives a post-receive hook on stdin,
// "<old-sha> <new-sha> <ref>", one per updated ref. Blank lines are
// skipped. A malformed line does not stop the parse: the updates of the
// good lines are returned with an error wrapping ErrMalformedUpdate that
// names every bad line by number.
func ParsePostReceive(r io.Reader) ([]RefUpdate, error) {
	var (
		out  []RefUpdate
		errs []error
	)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) != 3 || !plumbing.IsHash(fields[0]) || !plumbing.IsHash(fields[1]) ||
			plumbing.ReferenceName(fields[2]).Validate() != nil {
			errs = append(errs, fmt.Errorf("line %d %q: %w", n, line, ErrMalformedUpdate))
			continue
		}
		out = append(out, RefUpdate{Old: fields[0], New: fields[1], Ref: fields[2]})
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, fmt.Errorf("read ref updates: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		return out, fmt.Errorf("parse post-receive input: %w", err)
	}
	return out, nil
}
