package report

import (
	"regexp"
	"sort"
	"strings"
)

// Failure builds the failed report of a run that produced no Puppet report,
// such as a compile error (puppet apply writes no report file then), a
// timeout or a revision that cannot be checked out. errs are the error
// lines, typically Puppet's "Error: ..." stderr lines; each is normalized
// as Parse normalizes log messages ("Error: ", " on node X" and line
// numbers removed); empty ones, colour escapes and Facter's own complaints
// (unless nothing else is said) are dropped. The report has no
// resources, Failed set and at least one error; its Time is left zero for
// the caller to set.
func Failure(host string, errs ...string) *Report {
	return ParseOptions{}.Failure(host, errs...)
}

// Failure is like the package-level Failure, and also strips the options'
// checkout directory and host root from the messages, so a compile error
// reads the same whichever directory the revision was checked out in.
func (o ParseOptions) Failure(host string, errs ...string) *Report {
	n := newNormalizer(o)
	r := &Report{Host: host, Failed: true, PuppetStatus: "failed"}
	var facter []string
	for _, e := range errs {
		e = ansi.ReplaceAllString(e, "")
		e = strings.TrimPrefix(strings.TrimSpace(e), "Error: ")
		m := n.message(e)
		switch {
		case m == "":
		case strings.HasPrefix(m, "Facter: "):
			// Facter complains about what it may not read (/proc/1/environ
			// in a container) on every run; such lines explain a failure
			// only when nothing else does.
			facter = append(facter, m)
		default:
			r.Errors = append(r.Errors, m)
		}
	}
	if len(r.Errors) == 0 {
		r.Errors = facter
	}
	r.Errors = sortedUnique(r.Errors)
	if len(r.Errors) == 0 {
		r.Errors = []string{"puppet produced no report"}
	}
	return r
}

// ansi matches the colour escapes Puppet writes without --color=false.
var ansi = regexp.MustCompile("\x1b\\[[0-9;]*m")

// sortedUnique sorts and deduplicates in place.
func sortedUnique(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	sort.Strings(s)
	out := s[:1]
	for _, v := range s[1:] {
		if v != out[len(out)-1] {
			out = append(out, v)
		}
	}
	return out
}
