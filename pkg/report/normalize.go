package report

import (
	"encoding/base64"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// redacted is how Puppet writes a Sensitive value; balcony keeps it so.
const redacted = "[redacted]"

// normalizer removes what differs between two runs of the same change.
type normalizer struct {
	// replacer strips the checkout directory and host root from any text.
	replacer *strings.Replacer
}

func newNormalizer(o ParseOptions) *normalizer {
	code := strings.TrimRight(o.CodeDir, "/")
	root := strings.TrimRight(o.HostRoot, "/")
	var olds []string
	if code != "" {
		olds = append(olds, code+"/", code)
	}
	if root != "" {
		// No trailing slash: the root's /etc/motd must stay /etc/motd.
		olds = append(olds, root)
	}
	if len(olds) == 0 {
		return &normalizer{}
	}
	// strings.Replacer tries its pairs in order at each position, so the
	// longer, more specific prefixes go first.
	sort.SliceStable(olds, func(i, j int) bool { return len(olds[i]) > len(olds[j]) })
	pairs := make([]string, 0, 2*len(olds))
	for _, o := range olds {
		pairs = append(pairs, o, "")
	}
	return &normalizer{replacer: strings.NewReplacer(pairs...)}
}

// text strips run-specific paths.
func (n *normalizer) text(s string) string {
	if n.replacer == nil {
		return s
	}
	return n.replacer.Replace(s)
}

// file makes a manifest path relative to the checkout (manifests/site.pp).
// Paths outside the checkout stay absolute.
func (n *normalizer) file(s string) string {
	return n.text(s)
}

var (
	onNode = regexp.MustCompile(` on node [^\s,;:)]+`)
	// (file: x.pp, line: 3, column: 32), (line: 3), (file: x.pp, line: 3)
	fileLine = regexp.MustCompile(`\s*\((?:file: ([^,)]+))?(?:, )?line: \d+(?:, column: \d+)?\)`)
	// "at /x/y.pp:3:32" and "at /x/y.pp:3"
	atLine          = regexp.MustCompile(`(\.(?:pp|epp|erb|rb)):\d+(?::\d+)?\b`)
	genericNoop     = regexp.MustCompile(`(?s)^current_value .*, should be .* \(noop\)$`)
	checksum        = regexp.MustCompile(`^\{[a-z0-9]+\}[0-9a-f]+$`)
	diffHeaderMinus = regexp.MustCompile(`^--- ([^\t]*)(\t.*)?$`)
)

// message normalizes a log or error message: per-node wording, source line
// numbers and run-specific paths removed, surrounding space trimmed.
func (n *normalizer) message(s string) string {
	s = n.text(s)
	s = onNode.ReplaceAllString(s, "")
	s = fileLine.ReplaceAllStringFunc(s, func(m string) string {
		f := fileLine.FindStringSubmatch(m)[1]
		if f == "" {
			return ""
		}
		return " (file: " + f + ")"
	})
	s = atLine.ReplaceAllString(s, "$1")
	return strings.TrimSpace(s)
}

// eventMessage keeps an event's message only when it says more than its
// values: Puppet's "current_value X, should be Y (noop)" is dropped.
func (n *normalizer) eventMessage(s string) string {
	s = n.message(s)
	if isGenericNoop(s) {
		return ""
	}
	return s
}

func isGenericNoop(s string) bool { return genericNoop.MatchString(s) }

// isDiff tells whether a log message is a --show_diff file diff.
func isDiff(s string) bool {
	return strings.HasPrefix(strings.TrimLeft(s, "\n"), "--- ")
}

// diff normalizes a --show_diff log message: the leading newline dropped,
// and the "--- live\ttime" / "+++ /tmp/puppet-file...\ttime" headers made
// "--- path" / "+++ path". Hunks are kept whole. The result ends in "\n".
func (n *normalizer) diff(s string) string {
	s = n.text(strings.TrimLeft(s, "\n"))
	lines := strings.SplitAfter(s, "\n")
	if len(lines) >= 2 {
		if m := diffHeaderMinus.FindStringSubmatch(strings.TrimRight(lines[0], "\n")); m != nil && strings.HasPrefix(lines[1], "+++ ") {
			lines[0] = "--- " + m[1] + "\n"
			lines[1] = "+++ " + m[1] + "\n"
		}
	}
	out := strings.Join(lines, "")
	if !strings.HasSuffix(out, "\n") {
		out += "\n"
	}
	return out
}

// renderValue renders an event value canonically: scalars as text, lists
// and hashes the way Puppet prints them (['0'], {'a' => 'b'}) with hash
// keys sorted, nil as "". A base64 value that decodes to a checksum
// ({sha256}...) is decoded: Puppet writes desired content that way.
func renderValue(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return decodeChecksum(x)
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = renderElem(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = "'" + k + "' => " + renderElem(x[k])
		}
		return "{" + strings.Join(parts, ", ") + "}"
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	default:
		return fmt.Sprint(x)
	}
}

func renderElem(v any) string {
	if s, ok := v.(string); ok {
		return "'" + strings.ReplaceAll(s, "'", `\'`) + "'"
	}
	return renderValue(v)
}

// decodeChecksum returns the checksum a base64 string encodes, or the
// string unchanged. Only a decoded "{algo}hex" is accepted, so ordinary
// values that happen to be valid base64 ("file") stay as they are.
func decodeChecksum(s string) string {
	if len(s) < 16 || strings.HasPrefix(s, "{") {
		return s
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || !checksum.Match(b) {
		return s
	}
	return string(b)
}

// decodeBinary decodes a YAML binary scalar; text that is not UTF-8 stays
// base64, prefixed so it is never mistaken for the text itself.
func decodeBinary(s string) string {
	clean := strings.Join(strings.Fields(s), "")
	b, err := base64.StdEncoding.DecodeString(clean)
	if err != nil {
		return s
	}
	if !utf8.Valid(b) {
		return "base64:" + clean
	}
	return string(b)
}
