package chat

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Trust modes: how the bridge decides which login a speaker is.
const (
	// TrustStatic believes the nick: whoever holds a mapped nick speaks
	// for its login. Insecure on a network without services, where any
	// client may take a free nick.
	TrustStatic = "static"
	// TrustAccount believes the speaker's services account, as the server
	// vouches for it (the IRCv3 account-tag on the message, or the account
	// tracked from extended-join, account-notify or WHOX): the account
	// must be mapped to the login.
	TrustAccount = "account"
)

// Person is one login's IRC identity.
type Person struct {
	// Nick is how announcements mention the login (and, in static mode,
	// the nick that speaks for it).
	Nick string `yaml:"nick" json:"nick"`
	// Account is the services account that speaks for the login in
	// account mode; empty means the same as Nick.
	Account string `yaml:"account" json:"account"`
}

// People maps logins to their IRC identities, as configured.
type People map[string]Person

// ErrUntrusted is wrapped when a speaker cannot act as any login.
var ErrUntrusted = errors.New("not trusted")

// Speaker is who said something, as the server told it.
type Speaker struct {
	Nick string
	// Account is the services account the server vouches for; empty when
	// the speaker is logged into none or the server did not say.
	Account string
	// AccountKnown says the server told the account (a tag, or tracking):
	// false on a server with no account support.
	AccountKnown bool
}

// Login resolves who speaks under mode: the login the speaker may act as,
// or an error wrapping ErrUntrusted that says why, in words for the
// speaker.
func (p People) Login(mode string, s Speaker) (string, error) {
	switch mode {
	case TrustStatic:
		for _, login := range p.logins() {
			if FoldNick(p[login].Nick) == FoldNick(s.Nick) && s.Nick != "" {
				return login, nil
			}
		}
		return "", fmt.Errorf("%w: the nick %s is mapped to no login", ErrUntrusted, s.Nick)
	case TrustAccount:
		if !s.AccountKnown {
			return "", fmt.Errorf("%w: the server does not tell %s's services account", ErrUntrusted, s.Nick)
		}
		if s.Account == "" {
			return "", fmt.Errorf("%w: %s is not logged in to services", ErrUntrusted, s.Nick)
		}
		for _, login := range p.logins() {
			acct := p[login].Account
			if acct == "" {
				acct = p[login].Nick
			}
			if acct != "" && FoldNick(acct) == FoldNick(s.Account) {
				return login, nil
			}
		}
		return "", fmt.Errorf("%w: the account %s is mapped to no login", ErrUntrusted, s.Account)
	default:
		return "", fmt.Errorf("%w: unknown trust mode %q", ErrUntrusted, mode)
	}
}

// Nick is how to mention login: its mapped nick, else the login itself.
func (p People) Nick(login string) string {
	login = strings.TrimPrefix(login, "@")
	if n := p[login].Nick; n != "" {
		return n
	}
	return login
}

// logins are the mapped logins, sorted: the first match wins the same
// way every time.
func (p People) logins() []string {
	out := make([]string, 0, len(p))
	for l := range p {
		out = append(out, l)
	}
	sort.Strings(out)
	return out
}

// ValidMode tells whether mode is a trust mode.
func ValidMode(mode string) error {
	if mode != TrustStatic && mode != TrustAccount {
		return fmt.Errorf("trust mode %q: want %s or %s", mode, TrustStatic, TrustAccount)
	}
	return nil
}

// FoldNick folds a nick or account for comparison with RFC 1459's case
// mapping, IRC's default: A-Z and []\~ are the upper case of a-z and {}|^.
func FoldNick(s string) string {
	b := []byte(s)
	for i, c := range b {
		switch {
		case c >= 'A' && c <= 'Z':
			b[i] = c + 'a' - 'A'
		case c == '[':
			b[i] = '{'
		case c == ']':
			b[i] = '}'
		case c == '\\':
			b[i] = '|'
		case c == '~':
			b[i] = '^'
		}
	}
	return string(b)
}
