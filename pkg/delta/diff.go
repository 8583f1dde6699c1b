package delta

import (
	"strings"

	udiff "github.com/aymanbagabas/go-udiff"
	"github.com/bluekeyes/go-gitdiff/gitdiff"
)

// FullContext asks TrimDiff for as much context as the diff has.
const FullContext = 1 << 30

// unknown stands for a line of the live file that no hunk shows. Such
// lines are the same on both sides of any diff made from the same live
// file, so they never differ; a diff showing one is discarded.
const unknown = "\x00balcony: line not in the diff\x00\n"

// devNull names the missing side of a diff that creates or deletes a file.
const devNull = "/dev/null"

// patch is a parsed single-file unified diff.
type patch struct {
	// oldName and newName are the "--- " and "+++ " headers: the file's
	// path on both sides, devNull on the missing side of a file created
	// ("--- /dev/null", "+++ path") or deleted (the reverse).
	oldName, newName string
	frags            []*gitdiff.TextFragment
}

func parsePatch(d string) (*patch, bool) {
	files, _, err := gitdiff.Parse(strings.NewReader(d))
	if err != nil || len(files) != 1 || len(files[0].TextFragments) == 0 {
		return nil, false
	}
	p := &patch{oldName: files[0].OldName, newName: files[0].NewName, frags: files[0].TextFragments}
	// Our own headers, as report wrote them, win: gitdiff strips a
	// leading path element like patch -p1, and names /dev/null "".
	first, rest, _ := strings.Cut(d, "\n")
	second, _, _ := strings.Cut(rest, "\n")
	if strings.HasPrefix(first, "--- ") && strings.HasPrefix(second, "+++ ") {
		p.oldName, p.newName = strings.TrimPrefix(first, "--- "), strings.TrimPrefix(second, "+++ ")
	}
	return p, true
}

// path is the file the patch changes, whichever side of it exists.
func (p *patch) path() string {
	if p.newName == devNull {
		return p.oldName
	}
	return p.newName
}

// oldLines records the live-file lines the patch shows, by line number.
// It fails when a line conflicts with one already recorded: the patches
// were not made from the same file.
func (p *patch) oldLines(into map[int64]string) bool {
	for _, f := range p.frags {
		n := f.OldPosition
		for _, l := range f.Lines {
			if !l.Old() {
				continue
			}
			if prev, ok := into[n]; ok && prev != l.Line {
				return false
			}
			into[n] = l.Line
			n++
		}
	}
	return true
}

// apply returns the new side of the patch applied to old (line i+1 at
// index i), or false when the patch does not fit.
func (p *patch) apply(old []string) ([]string, bool) {
	var out []string
	next := int64(1) // next old line to copy
	for _, f := range p.frags {
		start := f.OldPosition
		if f.OldLines == 0 {
			start++ // pure insertion after line OldPosition
		}
		if start < next || start-1 > int64(len(old)) {
			return nil, false
		}
		out = append(out, old[next-1:start-1]...)
		next = start
		for _, l := range f.Lines {
			if l.Old() {
				next++
			}
			if l.New() {
				out = append(out, l.Line)
			}
		}
	}
	if next-1 > int64(len(old)) {
		return nil, false
	}
	return append(out, old[next-1:]...), true
}

// liveFile reconstructs the live file from the lines the patches show,
// with unknown standing for lines none of them shows.
func liveFile(ps ...*patch) ([]string, bool) {
	lines := map[int64]string{}
	for _, p := range ps {
		if !p.oldLines(lines) {
			return nil, false
		}
	}
	var last int64
	for n := range lines {
		last = max(last, n)
	}
	old := make([]string, last)
	for i := range old {
		if l, ok := lines[int64(i+1)]; ok {
			old[i] = l
		} else {
			old[i] = unknown
		}
	}
	return old, true
}

// stepDiff derives the diff from the desired side of base to the desired
// side of commit, two diffs of the same live file. The result has full
// context when the live file is wholly known (Puppet ran with -U 1000000),
// else 3 lines. It fails when the diffs do not parse or do not share their
// live file.
func stepDiff(base, commit string) (string, bool) {
	pb, ok1 := parsePatch(base)
	pc, ok2 := parsePatch(commit)
	if !ok1 || !ok2 || pb.path() != pc.path() {
		return "", false
	}
	old, ok := liveFile(pb, pc)
	if !ok {
		return "", false
	}
	nb, ok1 := pb.apply(old)
	nc, ok2 := pc.apply(old)
	if !ok1 || !ok2 {
		return "", false
	}
	// Both sides are desired contents of the file, so both exist: a file
	// the parent already creates is edited, not created, by the commit.
	return unified(pc.path(), pc.path(), strings.Join(nb, ""), strings.Join(nc, ""), FullContext)
}

// TrimDiff returns a unified diff (as report.Resource.Diff holds) with at
// most context lines of context around each change, regenerated from the
// sides the diff shows. A diff it cannot parse comes back unchanged.
func TrimDiff(d string, context int) string {
	p, ok := parsePatch(d)
	if !ok {
		return d
	}
	old, ok := liveFile(p)
	if !ok {
		return d
	}
	nw, ok := p.apply(old)
	if !ok {
		return d
	}
	out, ok := unified(p.oldName, p.newName, strings.Join(old, ""), strings.Join(nw, ""), context)
	if !ok {
		return d
	}
	return out
}

// unified makes a unified diff with "--- oldName" / "+++ newName" headers.
// It fails when the result would show a line no input showed. Equal sides
// give "".
func unified(oldName, newName, a, b string, context int) (string, bool) {
	if a == b {
		return "", true
	}
	if strings.Contains(a, unknown) || strings.Contains(b, unknown) {
		context = min(context, 3)
	}
	// go-udiff's cost grows with the context asked for, not the context
	// available: never ask for more lines than the files have.
	context = min(context, strings.Count(a, "\n")+strings.Count(b, "\n")+1)
	out, err := udiff.ToUnified(oldName, newName, a, udiff.Lines(a, b), context)
	if err != nil || strings.Contains(out, unknown) {
		return "", false
	}
	return out, true
}
