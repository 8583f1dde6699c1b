package owners

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// Node is the node statement a host matches.
type Node struct {
	// File is the manifest holding the statement, relative to the
	// repository root (manifests/nodes/statler.pp).
	File string
	Line int
	// Name is the name that matched, as written: "statler.example.com",
	// "/^web\d+$/" for a regex, "default".
	Name string
}

// nodeRegex is one regex node statement, in Puppet's order.
type nodeRegex struct {
	node Node
	// re is nil when the regex did not compile: a host not matched
	// before it cannot be placed.
	re *regexp.Regexp
}

// nodeIndex is every node statement of a set of manifests.
type nodeIndex struct {
	exact   map[string]Node
	regexes []nodeRegex
	def     *Node
	// broken is set when a manifest could not be read to its end: any
	// host might then match a statement in the unread part.
	broken bool
}

// match finds host's node statement the way Puppet 7 does (balcony's
// target; strict_hostname_checking off, its default there): for the
// lower-cased name, then for each shorter name made by dropping its last
// label (fozzie.example.com, fozzie.example, fozzie), an exact statement,
// else the first regex that matches it (manifest files by path,
// statements in file order); then default. With strict set (Puppet 8's
// default) only the full name is tried. ok is false when nothing matches,
// or when the answer is unknowable because a manifest or a regex earlier
// in the order could not be parsed (see Model.Problems).
func (ix *nodeIndex) match(host string, strict bool) (Node, bool) {
	if ix.broken {
		return Node{}, false
	}
	for _, name := range candidateNames(strings.ToLower(host), strict) {
		if n, ok := ix.exact[name]; ok {
			return n, true
		}
		for _, r := range ix.regexes {
			if r.re == nil {
				return Node{}, false
			}
			if r.re.MatchString(name) {
				return r.node, true
			}
		}
	}
	if ix.def != nil {
		return *ix.def, true
	}
	return Node{}, false
}

// size is the number of node statement names indexed.
func (ix *nodeIndex) size() int {
	n := len(ix.exact) + len(ix.regexes)
	if ix.def != nil {
		n++
	}
	return n
}

// candidateNames are the names Puppet looks a node up by, longest first.
func candidateNames(name string, strict bool) []string {
	names := []string{name}
	for !strict {
		i := strings.LastIndex(name, ".")
		if i <= 0 {
			break
		}
		name = name[:i]
		names = append(names, name)
	}
	return names
}

// parseNodes reads the node statements of the .pp files of manifests that
// are in dirs (or are one of dirs). Problems are returned, not fatal: a
// duplicate name keeps its first statement, a regex that Go cannot compile
// makes the hosts that reach it unknown, and a file that cannot be lexed
// makes every host unknown.
func parseNodes(manifests map[string][]byte, dirs []string) (*nodeIndex, []error) {
	ix := &nodeIndex{exact: map[string]Node{}}
	var problems []error
	seen := map[string]bool{}
	for _, dir := range dirs {
		var files []string
		for p := range manifests {
			if !seen[p] && strings.HasSuffix(p, ".pp") && (p == dir || strings.HasPrefix(p, dir+"/")) {
				files = append(files, p)
				seen[p] = true
			}
		}
		sort.Strings(files)
		for _, f := range files {
			stmts, err := nodeStatements(string(manifests[f]))
			if err != nil {
				ix.broken = true
				problems = append(problems, fmt.Errorf("%w: %s: %v", ErrManifest, f, err))
			}
			for _, s := range stmts {
				s.File = f
				if err := ix.add(s); err != nil {
					problems = append(problems, err)
				}
			}
		}
	}
	return ix, problems
}

// stmt is one name of a node statement.
type stmt struct {
	Node
	kind tokKind // tokString for names, tokRegex, tokWord for default
}

// add files one statement name. A name defined twice (Puppet refuses to
// compile then) keeps its first definition and is reported.
func (ix *nodeIndex) add(s stmt) error {
	switch s.kind {
	case tokRegex:
		re, err := regexp.Compile(s.Name)
		s.Name = "/" + s.Name + "/"
		ix.regexes = append(ix.regexes, nodeRegex{node: s.Node, re: re})
		if err != nil {
			return fmt.Errorf("%w: %s:%d: node %s: Go cannot compile this Ruby regex (rewrite it in the common subset): %v",
				ErrManifest, s.File, s.Line, s.Name, err)
		}
	case tokWord:
		if ix.def != nil {
			return fmt.Errorf("%w: %s:%d: node default is already defined at %s:%d", ErrManifest, s.File, s.Line, ix.def.File, ix.def.Line)
		}
		n := s.Node
		ix.def = &n
	default:
		key := strings.ToLower(s.Name)
		if prev, ok := ix.exact[key]; ok {
			return fmt.Errorf("%w: %s:%d: node %q is already defined at %s:%d", ErrManifest, s.File, s.Line, s.Name, prev.File, prev.Line)
		}
		ix.exact[key] = s.Node
	}
	return nil
}

// nodeStatements returns the names of every node statement in src, in
// order: `node 'a', "b", c.example.com, /re/, default {`. The statements
// read before an error are returned with it.
func nodeStatements(src string) ([]stmt, error) {
	l := newLexer(src)
	var out []stmt
	var prev token
	for {
		t, err := l.next()
		if err != nil {
			return out, err
		}
		if t.kind == tokEOF {
			return out, nil
		}
		// ".node" is a method call, not a statement.
		afterDot := prev.kind == tokPunct && prev.text == "."
		prev = t
		if t.kind != tokWord || t.text != "node" || afterDot {
			continue
		}
		// "node => x" is an attribute named node, not a statement.
		if nt, err := l.peek(); err == nil && nt.kind == tokPunct && (nt.text == "=>" || nt.text == "+>") {
			continue
		}
		names, err := nodeNames(l, t.line)
		out = append(out, names...)
		if err != nil {
			return out, err
		}
	}
}

// nodeNames reads the comma-separated names after "node" up to "{".
func nodeNames(l *lexer, line int) ([]stmt, error) {
	var out []stmt
	for {
		t, err := l.next()
		if err != nil {
			return out, err
		}
		s := stmt{Node: Node{Line: t.line, Name: t.text}, kind: t.kind}
		switch {
		case t.kind == tokRegex:
		case t.kind == tokWord && t.text == "default", t.kind == tokString && t.text == "default":
			s.kind = tokWord
		case t.kind == tokString && t.text != "" && !strings.Contains(t.text, "${"), t.kind == tokWord:
			s.kind = tokString
		case t.kind == tokEOF:
			return out, fmt.Errorf("line %d: node statement: unexpected end of file", line)
		default:
			return out, fmt.Errorf("line %d: node statement: unexpected %q where a node name belongs", t.line, t.text)
		}
		out = append(out, s)
		t, err = l.next()
		if err != nil {
			return out, err
		}
		if t.kind == tokPunct && t.text == "," {
			if nt, err := l.peek(); err == nil && nt.kind == tokPunct && nt.text == "{" {
				_, err := l.next()
				return out, err
			}
			continue
		}
		if t.kind == tokPunct && t.text == "{" {
			return out, nil
		}
		return out, fmt.Errorf("line %d: node statement started on line %d: expected \",\" or \"{\", got %q", t.line, line, t.text)
	}
}
