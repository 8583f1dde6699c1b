package owners

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// Normalize is the canonical form of a login or team: surrounding space
// and one leading "@" removed, lower-cased, as GitHub compares them
// ("@Kermit" is "kermit", "@Muppets/Ops" is "muppets/ops").
func Normalize(name string) string {
	return strings.ToLower(strings.TrimPrefix(strings.TrimSpace(name), "@"))
}

// ErrInvalidLogin: a name that cannot be a person's login, such as a NATS
// wildcard ("*", ">") given as the identity of an approval. ValidLogin
// returns it.
var ErrInvalidLogin = errors.New("not a valid login")

// LoginRule is what ValidLogin accepts, as error messages state it.
const LoginRule = "a login is 1 to 39 letters, digits and single hyphens, " +
	"neither first nor last (GitHub's rule), optionally followed by _ and letters or digits " +
	"(an enterprise managed user's login)"

// loginRe is LoginRule on a normalised (lower-case) name; the length is
// checked apart.
var loginRe = regexp.MustCompile(`^[a-z0-9](?:-?[a-z0-9])*(?:_[a-z0-9]+)?$`)

// ValidLogin checks that name, once normalised (see Normalize), can be a
// person's login, the identity an approval or a revocation is made as: it
// is the last token of a NATS subject, where "*", ">", "." and spaces are
// not names, and it is compared with the logins of owners and authors. It
// returns an error wrapping ErrInvalidLogin that states LoginRule.
func ValidLogin(name string) error {
	n := Normalize(name)
	handle, _, _ := strings.Cut(n, "_")
	if !loginRe.MatchString(n) || len(handle) > 39 {
		return fmt.Errorf("%q is %w: %s", name, ErrInvalidLogin, LoginRule)
	}
	return nil
}

// normalizeAll normalises names, dropping empty ones and duplicates, and
// sorts them.
// SubjectLogin is the login a service request speaks as: the last token
// of its subject (balcony.<service>.<verb>.<login>), normalized, so that
// NATS permissions on the subject decide who may speak for whom. A token
// that is no valid login (NATS delivers a literal "*" or ">" to a wildcard
// subscription) is an error wrapping ErrInvalidLogin.
func SubjectLogin(subject string) (string, error) {
	login := Normalize(subject[strings.LastIndex(subject, ".")+1:])
	if err := ValidLogin(login); err != nil {
		return "", err
	}
	return login, nil
}

func normalizeAll(names []string) []string {
	set := map[string]bool{}
	for _, n := range names {
		if n = Normalize(n); n != "" {
			set[n] = true
		}
	}
	if len(set) == 0 {
		return nil
	}
	out := make([]string, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// noreply is GitHub's private commit email: [id+]login@users.noreply.github.com.
var noreply = regexp.MustCompile(`^(?:[0-9]+\+)?([a-z0-9](?:[a-z0-9-]*[a-z0-9])?)@users\.noreply\.github\.com$`)

// Login maps an email to a login: through Input.Logins (emails compared
// case-insensitively), else from a GitHub no-reply address. ok is false
// when the email is not known.
func (m *Model) Login(email string) (login string, ok bool) {
	e := strings.ToLower(strings.TrimSpace(email))
	if l, ok := m.logins[e]; ok && l != "" {
		return l, true
	}
	if s := noreply.FindStringSubmatch(e); s != nil {
		return s[1], true
	}
	return "", false
}

// coAuthorRe is a Co-authored-by trailer; GitHub reads it on any line,
// and so does CoAuthors, so that no co-author escapes exclusion.
var coAuthorRe = regexp.MustCompile(`(?im)^[ \t]*co-authored-by:[^<\n]*<([^>\n]+)>[ \t]*\r?$`)

// CoAuthors returns the emails of the Co-authored-by trailers of a commit
// message ("Co-authored-by: Name <email>", key case-insensitive), in order
// and lower-cased.
func CoAuthors(message string) []string {
	var out []string
	for _, s := range coAuthorRe.FindAllStringSubmatch(message, -1) {
		out = append(out, strings.ToLower(strings.TrimSpace(s[1])))
	}
	return out
}
