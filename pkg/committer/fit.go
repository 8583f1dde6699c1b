package committer

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/balcony-dev/balcony/pkg/protocol"
)

// minMessageCut is the shortest a message is cut to: below it, an event
// that still does not fit has too many commits, not too long messages.
const minMessageCut = 256

// FitEvent returns ev with its commit messages (and subjects) cut until
// size says it is at most limit bytes: a push with a huge commit message
// is published, with the message cut, rather than never (which would also
// hold back every later push of its branch). Each cut message keeps its
// first line, its trailers (Co-authored-by, Signed-off-by) when they fit,
// and says that it was cut and by how much; git has the whole message.
// cut is how many messages were cut. An event that does not fit even with
// every message cut to minMessageCut bytes is an error.
func FitEvent(ev protocol.CommitEvent, limit int, size func(protocol.CommitEvent) (int, error)) (out protocol.CommitEvent, cut int, err error) {
	n, err := size(ev)
	if err != nil || n <= limit {
		return ev, 0, err
	}
	longest := 0
	for _, c := range ev.Commits {
		longest = max(longest, len(c.Message), len(c.Subject))
	}
	for budget := min(longest/2, limit/max(len(ev.Commits), 1)); budget >= minMessageCut; budget /= 2 {
		out, cut = ev, 0
		out.Commits = make([]protocol.Commit, len(ev.Commits))
		for i, c := range ev.Commits {
			if len(c.Message) > budget || len(c.Subject) > budget {
				c.Message = cutMessage(c.Message, budget, limit)
				c.Subject = cutText(c.Subject, min(budget/2, len(c.Subject)))
				cut++
			}
			out.Commits[i] = c
		}
		if n, err = size(out); err != nil || n <= limit {
			return out, cut, err
		}
	}
	return ev, 0, fmt.Errorf("commit event of %d commits is %d bytes, over the bus's limit of %d even with every message cut to %d bytes", len(ev.Commits), n, limit, minMessageCut)
}

// trailerRe is a git trailer line: "Token: value".
var trailerRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]*:[ \t]`)

// cutMessage cuts msg to about budget bytes: its beginning, a note, and
// its trailers when they take at most half the budget.
func cutMessage(msg string, budget, limit int) string {
	if len(msg) <= budget {
		return msg
	}
	body, trailers := splitTrailers(msg)
	if len(trailers) > budget/2 {
		trailers = ""
	}
	note := fmt.Sprintf("\n\n[balcony: this message was cut from %d bytes to fit the bus's limit of %d bytes for a push; git has it whole]", len(msg), limit)
	if trailers != "" {
		note += "\n\n" + trailers
	}
	keep := max(budget-len(note), 0)
	return cutText(body, min(keep, len(body))) + note + "\n"
}

// splitTrailers splits msg's last paragraph off when every line of it is
// a trailer.
func splitTrailers(msg string) (body, trailers string) {
	trimmed := strings.TrimRight(msg, "\n \t\r")
	i := strings.LastIndex(trimmed, "\n\n")
	if i < 0 {
		return msg, ""
	}
	last := trimmed[i+2:]
	for _, line := range strings.Split(last, "\n") {
		if !trailerRe.MatchString(line) {
			return msg, ""
		}
	}
	return trimmed[:i], last
}

// cutText returns the first n bytes of s, on a rune boundary, with "…"
// when it cut anything.
func cutText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
