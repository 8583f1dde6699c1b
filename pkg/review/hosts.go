package review

import (
	"sort"
	"strings"
)

// CompressHosts prints a host list compactly: hosts sharing the domain
// after their first dot are braced together
// ({fozzie,statler,waldorf}.example.com), a lone host of a domain is
// printed plain, and the parts are joined by ", " in the order of their
// first host. Duplicates are printed once; the input is not modified.
func CompressHosts(hosts []string) string {
	byDomain := map[string][]string{}
	for _, h := range hosts {
		name, domain, _ := strings.Cut(h, ".")
		byDomain[domain] = append(byDomain[domain], name)
	}
	type part struct{ first, text string }
	var parts []part
	for d, names := range byDomain {
		names = unique(names)
		switch {
		case d == "":
			// Short names share no domain to factor out.
			for _, n := range names {
				parts = append(parts, part{n, n})
			}
		case len(names) == 1:
			parts = append(parts, part{names[0] + "." + d, names[0] + "." + d})
		default:
			parts = append(parts, part{names[0] + "." + d, "{" + strings.Join(names, ",") + "}." + d})
		}
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i].first < parts[j].first })
	out := make([]string, len(parts))
	for i, p := range parts {
		out[i] = p.text
	}
	return strings.Join(out, ", ")
}

func unique(s []string) []string {
	s = append([]string(nil), s...)
	sort.Strings(s)
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}
