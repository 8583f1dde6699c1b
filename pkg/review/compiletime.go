package review

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// A noop forces every resource to noop, but the code of the commit still
// runs on every host while Puppet compiles its catalog (functions, facts,
// templates) and while it checks resources (providers, an exec's unless):
// CompileTimeCode points a reviewer at such code that the commit adds.

// FileChange is a file that a commit adds or changes.
type FileChange struct {
	Path string
	// Before is the content at the first parent; nil for a new file.
	Before []byte
	After  []byte
}

// codeDirs are where Puppet loads code that runs on the host: Ruby
// functions, facts, types and providers; external facts; Puppet-language
// functions of an environment or a module.
var codeDirs = []string{
	"lib/puppet/functions/", "lib/puppet/parser/functions/", "lib/facter/",
	"lib/puppet/type/", "lib/puppet/provider/", "facts.d/", "functions/",
}

// CompileTimePath tells whether a file at path can hold code that runs on
// the host during a noop: manifests, templates and the files of codeDirs.
func CompileTimePath(path string) bool {
	switch {
	case strings.HasSuffix(path, ".pp"), strings.HasSuffix(path, ".epp"), strings.HasSuffix(path, ".erb"):
		return true
	}
	return codeDir(path) != ""
}

// codeDir returns the entry of codeDirs that path is in, at the root or
// in a module ("modules/x/lib/facter/y.rb"), or "".
func codeDir(path string) string {
	for _, d := range codeDirs {
		if strings.HasPrefix(path, d) || strings.Contains(path, "/"+d) {
			return d
		}
	}
	return ""
}

var (
	// alwaysRuns are functions that run code or read the host whatever
	// their arguments: generate() runs a command, inline_template() runs
	// Ruby (ERB), find_file() and binary_file() read files.
	alwaysRuns = regexp.MustCompile(`\b(generate|inline_template|find_file|binary_file)\s*\(`)
	// readsPath are file() and template() given an absolute path or a
	// variable, which can name any file of the host (/etc/shadow).
	readsPath = regexp.MustCompile(`\b(file|template)\s*\(\s*(['"]/|"\$|\$)`)
	// erbRuby is Ruby in an ERB tag that reaches beyond the template's
	// variables: commands, files, the environment, eval.
	erbRuby = regexp.MustCompile("<%.*(`|%x|\\bsystem\\b|\\bexec\\b|\\bspawn\\b|\\bFile\\.|\\bIO\\.|\\bDir\\.|\\bopen\\s*\\(|\\bKernel\\b|\\beval\\b|\\brequire\\b|\\bENV\\b)")
)

// CompileTimeCode returns, sorted, what the changes add that runs on
// every host during the noop, one line each with the path (and line):
// files of codeDirs added or changed, calls of generate(),
// inline_template(), find_file(), binary_file(), file() or template() of
// an absolute path or a variable in added manifest lines, and Ruby that
// reaches the host in added ERB lines. A commit can hide code from any
// such scan (a module from elsewhere, an indirection): the warnings point
// a reviewer at the obvious cases, they do not clear the others.
func CompileTimeCode(changes []FileChange) []string {
	var out []string
	for _, c := range changes {
		if d := codeDir(c.Path); d != "" {
			what := "changes"
			if c.Before == nil {
				what = "adds"
			}
			out = append(out, fmt.Sprintf("%s: %s code in %s, which runs on every host during the noop", c.Path, what, strings.TrimSuffix(d, "/")))
			continue
		}
		erb := strings.HasSuffix(c.Path, ".erb")
		for _, l := range addedLines(c.Before, c.After) {
			text := strings.TrimSpace(l.text)
			switch {
			case erb:
				if erbRuby.MatchString(text) {
					out = append(out, fmt.Sprintf("%s:%d: Ruby in a template that reaches the host, run on every host during the noop", c.Path, l.n))
				}
			case strings.HasPrefix(text, "#"):
			default:
				if m := alwaysRuns.FindStringSubmatch(text); m != nil {
					out = append(out, fmt.Sprintf("%s:%d: %s() runs on every host during the noop", c.Path, l.n, m[1]))
				} else if m := readsPath.FindStringSubmatch(text); m != nil {
					out = append(out, fmt.Sprintf("%s:%d: %s() of a path or variable reads the host during the noop", c.Path, l.n, m[1]))
				}
			}
		}
	}
	sort.Strings(out)
	return out
}

type line struct {
	n    int // 1-based, in after
	text string
}

// addedLines are the lines of after that before does not have as often:
// a multiset difference, which needs no diff and misses nothing added.
func addedLines(before, after []byte) []line {
	have := map[string]int{}
	for _, l := range strings.Split(string(before), "\n") {
		have[l]++
	}
	var out []line
	for i, l := range strings.Split(string(after), "\n") {
		if have[l] > 0 {
			have[l]--
			continue
		}
		out = append(out, line{n: i + 1, text: l})
	}
	return out
}
