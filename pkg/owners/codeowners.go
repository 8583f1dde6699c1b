package owners

import (
	"fmt"
	"strings"

	"github.com/hmarr/codeowners"
)

// moduleProbe is appended to a module directory to find its owners: the
// owners of a module are those of a file two levels inside it whose name
// no CODEOWNERS pattern can spell (a NUL byte). So the rule that wins is
// the last one covering every file of the module: the directory itself
// (/modules/motd/, modules/motd), an ancestor (modules/, /modules/**) or a
// catch-all (*, **). Rules naming files (*.pp), one subdirectory
// (modules/motd/manifests/) or only the module's top level
// (modules/motd/*) do not make module owners.
const moduleProbe = "\x00/\x00"

// parseCodeOwners reads the first CODEOWNERS present in GitHub's order.
// Like GitHub, it skips a line it cannot parse and keeps the others; each
// skipped line, and each team or email owner that expands to nobody, is
// recorded as a problem.
func (m *Model) parseCodeOwners(files map[string][]byte) {
	var content []byte
	for _, p := range CodeOwnersPaths {
		if c, ok := files[p]; ok {
			m.codeOwnersPath, content = p, c
			break
		}
	}
	if m.codeOwnersPath == "" {
		return
	}
	for i, line := range strings.Split(string(content), "\n") {
		rules, err := codeowners.ParseFile(strings.NewReader(line))
		if err != nil {
			m.problems = append(m.problems, fmt.Errorf("%w: %s:%d: line skipped: %v",
				ErrCodeOwners, m.codeOwnersPath, i+1, strings.TrimPrefix(err.Error(), "line 1: ")))
			continue
		}
		for _, r := range rules {
			r.LineNumber = i + 1
			m.rules = append(m.rules, r)
			for _, o := range r.Owners {
				if name := ownerName(o); len(m.expand(name)) == 0 {
					m.problems = append(m.problems, fmt.Errorf("%w: %s:%d: owner %s has no known login or members",
						ErrCodeOwners, m.codeOwnersPath, i+1, o))
				}
			}
		}
	}
}

// ownership looks probe up in CODEOWNERS and reports it as p's, found
// as from says.
func (m *Model) ownership(p, probe, from string) Ownership {
	own := Ownership{Path: p, From: from}
	r, err := m.rules.Match(probe)
	if err != nil || r == nil {
		return own
	}
	own.Pattern, own.Line = r.RawPattern(), r.LineNumber
	var logins []string
	for _, o := range r.Owners {
		own.Owners = append(own.Owners, o.String())
		logins = append(logins, m.expand(ownerName(o))...)
	}
	own.Logins = normalizeAll(logins)
	return own
}

// ownerName normalises a CODEOWNERS owner: a login, "org/team" or an
// email (lower-cased).
func ownerName(o codeowners.Owner) string {
	if o.Type == codeowners.EmailOwner {
		return strings.ToLower(o.Value)
	}
	return Normalize(o.Value)
}

// expand turns a normalised owner into the logins it stands for: a team's
// members, an email's login, or the login itself. An unknown team or email
// stands for nobody.
func (m *Model) expand(name string) []string {
	switch {
	case strings.Contains(name, "@"):
		if l, ok := m.Login(name); ok {
			return []string{l}
		}
		return nil
	case strings.Contains(name, "/"):
		return m.teams[name]
	}
	return []string{name}
}
