package owners

import (
	"fmt"
	"strings"
)

// tokKind is the kind of a Puppet token, as far as finding node
// statements needs: everything else is punctuation or a word.
type tokKind int

const (
	tokEOF tokKind = iota
	tokWord
	tokVar
	tokString
	tokRegex
	tokPunct
)

type token struct {
	kind tokKind
	// text is a word, a variable's name, a string's value (escapes of
	// quotes and backslashes resolved), a regex's source between its
	// slashes, or punctuation.
	text string
	line int
}

// lexer splits Puppet source into just enough tokens to find node
// statements reliably: comments, strings (with interpolation), heredoc
// bodies and regex literals are consumed whole, so that text inside them
// never looks like a statement.
type lexer struct {
	src  string
	pos  int
	line int
	prev token
	// heredocs are the end tags of heredocs opened on the current line;
	// their bodies start at the next newline.
	heredocs []string
}

func newLexer(src string) *lexer {
	return &lexer{src: src, line: 1}
}

// next returns the next token; at the end it returns a tokEOF token. An
// unterminated comment, string or heredoc is an error.
func (l *lexer) next() (token, error) {
	t, err := l.scan()
	if err == nil && t.kind != tokEOF {
		l.prev = t
	}
	return t, err
}

// peek returns the next token without consuming it.
func (l *lexer) peek() (token, error) {
	saved := *l
	saved.heredocs = append([]string(nil), l.heredocs...)
	t, err := l.next()
	*l = saved
	return t, err
}

func (l *lexer) scan() (token, error) {
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		switch {
		case c == '\n':
			l.pos++
			l.line++
			if err := l.skipHeredocBodies(); err != nil {
				return token{}, err
			}
		case c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v':
			l.pos++
		case c == '#':
			for l.pos < len(l.src) && l.src[l.pos] != '\n' {
				l.pos++
			}
		case strings.HasPrefix(l.src[l.pos:], "/*"):
			end := strings.Index(l.src[l.pos+2:], "*/")
			if end < 0 {
				return token{}, fmt.Errorf("line %d: unterminated comment", l.line)
			}
			body := l.src[l.pos : l.pos+2+end+2]
			l.line += strings.Count(body, "\n")
			l.pos += len(body)
		case c == '\'':
			return l.singleQuoted()
		case c == '"':
			return l.doubleQuoted()
		case c == '/' && l.regexAllowed():
			if t, ok := l.regex(); ok {
				return t, nil
			}
			l.pos++
			return token{kind: tokPunct, text: "/", line: l.line}, nil
		case strings.HasPrefix(l.src[l.pos:], "@("):
			return l.heredoc()
		case c == '$':
			start := l.pos
			l.pos++
			for l.pos < len(l.src) && (isWordByte(l.src[l.pos]) || l.src[l.pos] == ':') {
				l.pos++
			}
			return token{kind: tokVar, text: l.src[start+1 : l.pos], line: l.line}, nil
		case isWordByte(c):
			start := l.pos
			for l.pos < len(l.src) && (isWordByte(l.src[l.pos]) || strings.IndexByte(".-:", l.src[l.pos]) >= 0) {
				l.pos++
			}
			return token{kind: tokWord, text: l.src[start:l.pos], line: l.line}, nil
		default:
			for _, op := range []string{"=>", "+>", "=~", "!~", "==", "!="} {
				if strings.HasPrefix(l.src[l.pos:], op) {
					l.pos += len(op)
					return token{kind: tokPunct, text: op, line: l.line}, nil
				}
			}
			l.pos++
			return token{kind: tokPunct, text: string(c), line: l.line}, nil
		}
	}
	if len(l.heredocs) > 0 {
		return token{}, fmt.Errorf("line %d: unterminated heredoc %q", l.line, l.heredocs[0])
	}
	return token{kind: tokEOF, line: l.line}, nil
}

func isWordByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// regexAllowed says whether a slash starts a regex rather than being a
// division, following Puppet's lexer: a regex cannot follow a value.
func (l *lexer) regexAllowed() bool {
	switch l.prev.kind {
	case tokEOF:
		return true
	case tokWord:
		switch l.prev.text {
		case "node", "and", "or", "in", "if", "elsif", "unless", "case":
			return true
		}
		return false
	case tokPunct:
		return l.prev.text != ")" && l.prev.text != "]"
	}
	return false
}

// regex reads /.../ on one line, with \/ escaping a slash. ok is false
// when no closing slash is found on the line.
func (l *lexer) regex() (token, bool) {
	var b strings.Builder
	for i := l.pos + 1; i < len(l.src); i++ {
		switch c := l.src[i]; c {
		case '\n':
			return token{}, false
		case '\\':
			if i+1 < len(l.src) && l.src[i+1] == '/' {
				b.WriteByte('/')
				i++
				continue
			}
			b.WriteByte(c)
		case '/':
			l.pos = i + 1
			return token{kind: tokRegex, text: b.String(), line: l.line}, true
		default:
			b.WriteByte(c)
		}
	}
	return token{}, false
}

func (l *lexer) singleQuoted() (token, error) {
	line := l.line
	var b strings.Builder
	for i := l.pos + 1; i < len(l.src); i++ {
		c := l.src[i]
		switch {
		case c == '\\' && i+1 < len(l.src) && (l.src[i+1] == '\\' || l.src[i+1] == '\''):
			b.WriteByte(l.src[i+1])
			i++
		case c == '\'':
			l.pos = i + 1
			return token{kind: tokString, text: b.String(), line: line}, nil
		default:
			if c == '\n' {
				l.line++
			}
			b.WriteByte(c)
		}
	}
	return token{}, fmt.Errorf("line %d: unterminated string", line)
}

// doubleQuoted reads a double-quoted string. Interpolations ${...} are
// lexed as code, so quotes inside them do not end the string; their text
// is kept verbatim in the value.
func (l *lexer) doubleQuoted() (token, error) {
	line := l.line
	var b strings.Builder
	l.pos++
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		switch {
		case c == '\\' && l.pos+1 < len(l.src):
			n := l.src[l.pos+1]
			if n != '"' && n != '\\' && n != '$' {
				b.WriteByte(c)
			}
			if n == '\n' {
				l.line++
			}
			b.WriteByte(n)
			l.pos += 2
		case c == '"':
			l.pos++
			return token{kind: tokString, text: b.String(), line: line}, nil
		case strings.HasPrefix(l.src[l.pos:], "${"):
			start := l.pos
			l.pos += 2
			if err := l.skipInterpolation(); err != nil {
				return token{}, err
			}
			b.WriteString(l.src[start:l.pos])
		default:
			if c == '\n' {
				l.line++
			}
			b.WriteByte(c)
			l.pos++
		}
	}
	return token{}, fmt.Errorf("line %d: unterminated string", line)
}

// skipInterpolation consumes tokens up to the brace that closes an
// interpolation already opened.
func (l *lexer) skipInterpolation() error {
	saved := l.prev
	defer func() { l.prev = saved }()
	l.prev = token{kind: tokPunct, text: "{"}
	for depth := 1; ; {
		t, err := l.next()
		if err != nil {
			return err
		}
		switch {
		case t.kind == tokEOF:
			return fmt.Errorf("line %d: unterminated interpolation", l.line)
		case t.kind == tokPunct && t.text == "{":
			depth++
		case t.kind == tokPunct && t.text == "}":
			if depth--; depth == 0 {
				return nil
			}
		}
	}
}

// heredoc reads a heredoc's opening @(TAG[:syntax][/escapes]), with the tag
// optionally quoted, and schedules its body to be skipped from the next
// newline on.
func (l *lexer) heredoc() (token, error) {
	end := strings.IndexAny(l.src[l.pos:], ")\n")
	if end < 0 || l.src[l.pos+end] != ')' {
		return token{}, fmt.Errorf("line %d: malformed heredoc", l.line)
	}
	spec := l.src[l.pos+2 : l.pos+end]
	l.pos += end + 1
	if i := strings.IndexAny(spec, ":/"); i >= 0 && !strings.HasPrefix(spec, `"`) {
		spec = spec[:i]
	}
	tag := strings.TrimSpace(spec)
	if strings.HasPrefix(tag, `"`) {
		if i := strings.Index(tag[1:], `"`); i >= 0 {
			tag = tag[1 : i+1]
		}
	}
	l.heredocs = append(l.heredocs, strings.TrimSpace(tag))
	return token{kind: tokString, line: l.line}, nil
}

// skipHeredocBodies skips, right after a newline, the bodies of the
// heredocs opened on the line just ended. A body ends with a line whose
// text, after optional "|" and "-" markers, is the tag.
func (l *lexer) skipHeredocBodies() error {
	for len(l.heredocs) > 0 {
		tag := l.heredocs[0]
		for {
			if l.pos >= len(l.src) {
				return fmt.Errorf("line %d: unterminated heredoc %q", l.line, tag)
			}
			eol := strings.IndexByte(l.src[l.pos:], '\n')
			text := l.src[l.pos:]
			if eol >= 0 {
				text = text[:eol]
			}
			l.pos += len(text)
			if eol >= 0 {
				l.pos++
				l.line++
			}
			t := strings.TrimSpace(text)
			t = strings.TrimSpace(strings.TrimPrefix(t, "|"))
			t = strings.TrimSpace(strings.TrimPrefix(t, "-"))
			if t == tag {
				break
			}
		}
		l.heredocs = l.heredocs[1:]
	}
	return nil
}
