package owners

import (
	"fmt"
	"strings"
)

// missing says in one sentence who can still approve an unapproved group,
// naming only owners who are not authors. valid are the logins whose
// approval of the group counts.
func missing(gs GroupStatus, valid, authors map[string]bool, hasAdmins bool) string {
	var ways []string
	if names := eligible(gs.Owners.File, authors); names != "" {
		ways = append(ways, fmt.Sprintf("an owner of %s (%s)", gs.Owners.File.Path, names))
	}
	if names := eligible(gs.Owners.Module, authors); names != "" {
		ways = append(ways, fmt.Sprintf("an owner of module %s (%s)", gs.Owners.Module.Path, names))
	}
	var todo, blocked []string
	done := 0
	for _, n := range gs.Owners.Nodes {
		switch names := eligible(n.Ownership, authors); {
		case covered(n.Logins, valid):
			done++
		case n.Path == "":
			blocked = append(blocked, fmt.Sprintf("%s %s no known node file", strings.Join(n.Hosts, ", "), hasHave(len(n.Hosts))))
		case names == "":
			blocked = append(blocked, fmt.Sprintf("node file %s has no owner who is not an author", n.Path))
		default:
			todo = append(todo, fmt.Sprintf("%s (%s) for %s", n.Path, names, strings.Join(n.Hosts, ", ")))
		}
	}
	if len(blocked) == 0 && len(todo) > 0 {
		which := "every node file"
		if done > 0 {
			which = "the remaining node files"
		}
		ways = append(ways, fmt.Sprintf("owners of %s: %s", which, strings.Join(todo, "; ")))
	}
	if hasAdmins {
		ways = append(ways, "an admin")
	}
	var s string
	if len(ways) == 0 {
		s = "nobody can approve: there is no owner who is not an author and no admin"
	} else {
		s = "needs an approval from " + strings.Join(ways, ", or ")
	}
	if len(blocked) > 0 {
		s += " (node files cannot approve: " + strings.Join(blocked, "; ") + ")"
	}
	return s
}

// eligible lists o's owners for a sentence ("@kermit, @muppets/ops"), as
// CODEOWNERS writes them, leaving out authors; empty when no login other
// than authors' can approve as such an owner.
func eligible(o Ownership, authors map[string]bool) string {
	can := false
	for _, l := range o.Logins {
		can = can || !authors[l]
	}
	if !can {
		return ""
	}
	var names []string
	for _, n := range o.Owners {
		if authors[Normalize(n)] {
			continue
		}
		names = append(names, n)
	}
	return strings.Join(names, ", ")
}

func covered(logins []string, valid map[string]bool) bool {
	for _, l := range logins {
		if valid[l] {
			return true
		}
	}
	return false
}

func hasHave(n int) string {
	if n == 1 {
		return "has"
	}
	return "have"
}
