package github

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// maxBody is GitHub's limit on an issue or comment body: 65,536
// characters. Bodies are measured in bytes, never fewer than characters
// however GitHub counts them, so a body within maxBody bytes always fits.
const maxBody = 65536

// frameRoom is kept free in every part for the hidden marker and the
// "Review, part k of n" header.
const frameRoom = 256

// partBudget is what a part's reopen + text + close may take.
const partBudget = maxBody - frameRoom

// maxFenceRun: longer backtick or tilde runs are not treated as fences by
// the splitter (no review has them; it bounds the frame of a part).
const maxFenceRun = 64

// part is one piece of a review. The texts of consecutive parts concatenate
// to the review exactly; reopen and close are added fence lines that keep a
// code block cut between two parts balanced in each.
type part struct {
	reopen string // e.g. "```diff\n" when the part starts inside a block
	text   string // a slice of the review
	close  string // e.g. "```\n" when the part ends inside a block
}

func (p part) String() string { return p.reopen + p.text + p.close }

// fence is the code block the review is in at some point; zero outside.
type fence struct {
	run  string // the opening backticks or tildes
	lang string // the first word of the info string, e.g. "diff"
}

// splitReview cuts review into parts whose String is at most budget bytes
// (budget must be at least 1024). It cuts between lines, and inside a line
// only when that line alone does not fit, then at a rune boundary. A fenced
// code block open at a cut is closed in the part before and reopened (same
// fence and language) in the part after. There is always at least one part.
func splitReview(review string, budget int) []part {
	var (
		parts []part
		state fence
		pos   int // review[:pos] is in parts or the current part
		start int // the current part's text is review[start:pos]
	)
	reopen := ""
	flush := func() {
		text := review[start:pos]
		parts = append(parts, part{reopen: reopen, text: text, close: closing(state, text)})
		start, reopen = pos, reopening(state)
	}
	for pos < len(review) {
		end := len(review)
		if i := strings.IndexByte(review[pos:], '\n'); i >= 0 {
			end = pos + i + 1
		}
		after := nextFence(state, review[pos:end])
		for pos < end {
			used := len(reopen) + pos - start
			if used+end-pos+closeCost(after) <= budget {
				pos = end
				break
			}
			if pos > start {
				flush()
				continue
			}
			// The rest of this line does not fit even in an empty part.
			pos += cutAt(review[pos:end], budget-len(reopen)-closeCost(state))
		}
		state = after
	}
	parts = append(parts, part{reopen: reopen, text: review[start:]})
	return parts
}

// closeCost is the most that closing a block costs: "\n" + run + "\n".
func closeCost(f fence) int {
	if f.run == "" {
		return 0
	}
	return len(f.run) + 2
}

// closing is the fence line that ends a part cut inside block f after text.
func closing(f fence, text string) string {
	switch {
	case f.run == "":
		return ""
	case text == "" || strings.HasSuffix(text, "\n"):
		return f.run + "\n"
	default:
		return "\n" + f.run + "\n"
	}
}

// reopening is the fence line that starts a part cut inside block f.
func reopening(f fence) string {
	if f.run == "" {
		return ""
	}
	return f.run + f.lang + "\n"
}

// nextFence is the block state after line, given the state before it
// (CommonMark fences: up to three spaces of indent, three or more backticks
// or tildes; a closing fence as long as the opening one, with nothing after).
func nextFence(state fence, line string) fence {
	s := strings.TrimRight(line, "\r\n")
	trimmed := strings.TrimLeft(s, " ")
	if len(s)-len(trimmed) > 3 || trimmed == "" || (trimmed[0] != '`' && trimmed[0] != '~') {
		return state
	}
	n := len(trimmed) - len(strings.TrimLeft(trimmed, trimmed[:1]))
	if n < 3 || n > maxFenceRun {
		return state
	}
	run, info := trimmed[:n], strings.TrimSpace(trimmed[n:])
	if state.run != "" {
		if run[0] == state.run[0] && n >= len(state.run) && info == "" {
			return fence{}
		}
		return state
	}
	if run[0] == '`' && strings.Contains(info, "`") {
		return state // not a fence: inline code
	}
	lang := ""
	if f := strings.Fields(info); len(f) > 0 && len(f[0]) <= 32 {
		lang = f[0]
	}
	return fence{run: run, lang: lang}
}

// cutAt is how many bytes of s fit in room without splitting a rune; at
// least one rune, so splitting always makes progress.
func cutAt(s string, room int) int {
	if room >= len(s) {
		return len(s)
	}
	n := max(room, 0)
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	if n == 0 {
		_, n = utf8.DecodeRuneInString(s)
	}
	return n
}

// partHeader is the visible header of review part k of n ("" for a lone
// part).
func partHeader(k, n int) string {
	if n == 1 {
		return ""
	}
	return fmt.Sprintf("**Review, part %d of %d**\n\n", k, n)
}

// issueBody is the issue body: the commit marker and the first part.
func issueBody(sha string, parts []part) string {
	return commitMarker(sha) + "\n" + partHeader(1, len(parts)) + parts[0].String()
}

// partCommentBody is the comment that carries part k (2..n) of n.
func partCommentBody(k int, parts []part) string {
	return partMarker(k) + "\n" + partHeader(k, len(parts)) + parts[k-1].String()
}

// statusBodies are the status comments: the status split as the review is
// (never cut), the first with the status marker and the others, parts 2..n,
// with theirs; each part of several says which it is, the first where the
// rest is.
func statusBodies(status string) []string {
	parts := splitReview(status, partBudget)
	n := len(parts)
	bodies := make([]string, n)
	for k := 1; k <= n; k++ {
		marker, header := statusMarker, ""
		switch {
		case k > 1:
			marker, header = statusPartMarker(k), fmt.Sprintf("**Status, part %d of %d**\n\n", k, n)
		case n > 1:
			header = fmt.Sprintf("**Status, part 1 of %d** (parts 2 to %d are the next status comments)\n\n", n, n)
		}
		bodies[k-1] = marker + "\n" + header + parts[k-1].String()
	}
	return bodies
}
