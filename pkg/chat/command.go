package chat

import (
	"errors"
	"fmt"
	"strings"
)

// Verbs the bridge answers.
const (
	VerbStatus  = "status"
	VerbShow    = "show"
	VerbApprove = "approve"
	VerbRevoke  = "revoke"
	VerbHelp    = "help"
)

// Command is one request to the bridge.
type Command struct {
	Verb string
	// Target is status's sha, host or "rollout", show's, approve's and
	// revoke's revision.
	Target string
	// Groups are approve's optional group ids.
	Groups []string
}

// ErrNotForUs is returned for a channel message not addressed to the
// bridge: it is ignored, never answered.
var ErrNotForUs = errors.New("not addressed to the bridge")

// ErrUsage is wrapped by a command the bridge cannot read; its text is
// the answer.
var ErrUsage = errors.New("usage")

// Help is the answer to help, one line.
const Help = "status <sha|host|rollout> · show <sha> · approve <sha> [group…] · revoke <sha> · help"

// Parse reads text said to the bridge, whose nick is nick. In a channel
// (private false) the text must start with the nick and ':' or ',' (or
// with '!'); in private anything is a command. An unreadable command
// wraps ErrUsage.
func Parse(text, nick string, private bool) (Command, error) {
	text = strings.TrimSpace(text)
	if !private {
		rest, ok := addressed(text, nick)
		if !ok {
			return Command{}, ErrNotForUs
		}
		text = rest
	}
	f := strings.Fields(text)
	if len(f) == 0 {
		return Command{}, fmt.Errorf("%w: %s", ErrUsage, Help)
	}
	c := Command{Verb: strings.ToLower(f[0])}
	args := f[1:]
	switch c.Verb {
	case VerbHelp:
		return c, nil
	case VerbStatus:
		if len(args) != 1 {
			return c, fmt.Errorf("%w: status <sha|host|rollout>", ErrUsage)
		}
	case VerbShow, VerbRevoke:
		if len(args) != 1 || !Revision(args[0]) {
			return c, fmt.Errorf("%w: %s <sha> (at least 4 hex digits)", ErrUsage, c.Verb)
		}
	case VerbApprove:
		if len(args) < 1 || !Revision(args[0]) {
			return c, fmt.Errorf("%w: approve <sha> [group…] (at least 4 hex digits)", ErrUsage)
		}
		c.Groups = args[1:]
	default:
		return c, fmt.Errorf("%w: unknown command %q; %s", ErrUsage, f[0], Help)
	}
	c.Target = args[0]
	if Revision(c.Target) {
		c.Target = strings.ToLower(c.Target)
	}
	return c, nil
}

// addressed strips "nick:", "nick," or "!" from the start of text.
func addressed(text, nick string) (string, bool) {
	if rest, ok := strings.CutPrefix(text, "!"); ok {
		return rest, true
	}
	if len(text) <= len(nick) || FoldNick(text[:len(nick)]) != FoldNick(nick) {
		return "", false
	}
	switch text[len(nick)] {
	case ':', ',':
		return text[len(nick)+1:], true
	}
	return "", false
}

// Revision tells whether s reads as a revision: 4 to 64 hex digits.
func Revision(s string) bool {
	if len(s) < 4 || len(s) > 64 {
		return false
	}
	for _, c := range strings.ToLower(s) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
