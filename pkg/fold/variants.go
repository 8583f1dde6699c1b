package fold

import (
	"crypto/sha256"
	"encoding/binary"
	"sort"
	"strings"

	"github.com/balcony-dev/balcony/pkg/delta"
	"github.com/balcony-dev/balcony/pkg/report"
)

// member is one change of a resource once the host's certname and
// hostname are placeholders: the groups that became identical that way.
type member struct {
	res    report.Resource // the change, with placeholders
	groups []*delta.Group
	hosts  int
	tokens []string // every compared field, tokenized, one after the other
	counts []int    // the number of tokens of each field
	shape  string   // what members must share to be aligned token by token
}

// MinPerHost is the fewest hosts a PerHost placeholder stands for: two
// hosts that differ are shown as two changes, which reads better than a
// placeholder and a list of two values.
const MinPerHost = 3

// bucket is members that make one fold; perHost marks the token positions
// shown as PerHost (nil for a lone member).
type bucket struct {
	members []*member
	perHost []bool
}

// foldKey folds the groups of one resource, source file and define type.
func foldKey(groups []*delta.Group) []Fold {
	// Step 1: the host's own names. Only a group of one host can hold a
	// value of its own: a change identical on several hosts holds none.
	byExact := map[[sha256.Size]byte]*member{}
	var members []*member
	for _, g := range groups {
		res := g.Resource
		if len(g.Hosts) == 1 {
			res = substituted(res, g.Hosts[0])
		}
		k := exactKey(&res)
		if m, ok := byExact[k]; ok {
			m.groups = append(m.groups, g)
			m.hosts += len(g.Hosts)
			continue
		}
		m := &member{res: res, groups: []*delta.Group{g}, hosts: len(g.Hosts)}
		byExact[k] = m
		members = append(members, m)
	}
	// Step 2: other per-host values, aligned token by token among members
	// of the same shape.
	byShape := map[string][]*member{}
	var shapes []string
	for _, m := range members {
		m.tokens, m.counts, m.shape = tokenized(&m.res)
		if _, ok := byShape[m.shape]; !ok {
			shapes = append(shapes, m.shape)
		}
		byShape[m.shape] = append(byShape[m.shape], m)
	}
	var buckets []bucket
	for _, s := range shapes {
		settle(byShape[s], &buckets)
	}
	out := make([]Fold, 0, len(buckets))
	for _, b := range buckets {
		out = append(out, b.fold())
	}
	return out
}

// settle splits members of one shape into buckets. At each token position
// the members agree (the token stays), or each member's value is its own
// (one host each, values all different: PerHost), or neither: then the
// members whose value is their own go on together and the others are
// split by value, so that a value shared by several hosts is always shown.
func settle(ms []*member, out *[]bucket) {
	if len(ms) == 1 {
		*out = append(*out, bucket{members: ms})
		return
	}
	n := len(ms[0].tokens)
	perHost := make([]bool, n)
	for p := 0; p < n; p++ {
		if agree(ms, p) {
			continue
		}
		freq := make(map[string]int, len(ms))
		for _, m := range ms {
			freq[m.tokens[p]] += m.hosts
		}
		var own []*member
		shared := map[string][]*member{}
		var values []string
		for _, m := range ms {
			v := m.tokens[p]
			if freq[v] == 1 {
				own = append(own, m)
				continue
			}
			if _, ok := shared[v]; !ok {
				values = append(values, v)
			}
			shared[v] = append(shared[v], m)
		}
		if len(own) == len(ms) {
			if len(ms) < MinPerHost {
				for _, m := range ms {
					*out = append(*out, bucket{members: []*member{m}})
				}
				return
			}
			perHost[p] = true
			continue
		}
		if len(own) > 0 {
			settle(own, out)
		}
		for _, v := range values {
			settle(shared[v], out)
		}
		return
	}
	if !readable(ms[0], perHost) {
		for _, m := range ms {
			*out = append(*out, bucket{members: []*member{m}})
		}
		return
	}
	*out = append(*out, bucket{members: ms, perHost: perHost})
}

// readable says whether a pattern keeps enough of the text: in every
// line, at most one placeholder, or no more placeholders than words kept.
// Members alike only in their number of tokens would otherwise fold into
// a pattern of placeholders that says nothing.
func readable(m *member, perHost []bool) bool {
	places, words := 0, 0
	check := func() bool { return places <= max(1, words) }
	p := 0
	for _, n := range m.counts {
		for q := p; q < p+n; q++ {
			t := m.tokens[q]
			switch {
			case t == "\n":
				if !check() {
					return false
				}
				places, words = 0, 0
			case perHost[q]:
				if q == p || !perHost[q-1] {
					places++
				}
			case wordByte(t[0]):
				words++
			}
		}
		if !check() {
			return false
		}
		places, words = 0, 0
		p += n
	}
	return true
}

func agree(ms []*member, p int) bool {
	v := ms[0].tokens[p]
	for _, m := range ms[1:] {
		if m.tokens[p] != v {
			return false
		}
	}
	return true
}

// fold turns a bucket into a Fold.
func (b bucket) fold() Fold {
	first := b.members[0]
	f := Fold{ChangedDuringNoop: first.groups[0].ChangedDuringNoop, NoopFalse: first.groups[0].NoopFalse}
	for _, m := range b.members {
		for _, g := range m.groups {
			f.Variants = append(f.Variants, Variant{ID: g.ID, Hosts: g.Hosts})
			f.Hosts = append(f.Hosts, g.Hosts...)
		}
	}
	sort.Strings(f.Hosts)
	sort.Slice(f.Variants, func(i, j int) bool { return f.Variants[i].Hosts[0] < f.Variants[j].Hosts[0] })
	switch {
	case len(f.Variants) == 1:
		f.Pattern = first.groups[0].Resource
	case b.perHost == nil:
		f.Pattern = first.res
	default:
		f.Pattern = patterned(first, b.perHost)
		values := map[string][]string{}
		for _, m := range b.members {
			values[m.groups[0].ID] = placeValues(m, b.perHost)
		}
		for i := range f.Variants {
			f.Variants[i].Values = values[f.Variants[i].ID]
		}
	}
	return f
}

// placeValues returns m's text at each placeholder of the pattern, but
// for a checksum of content that the diff shows: that one says nothing the
// diff's own values do not.
func placeValues(m *member, perHost []bool) []string {
	var out []string
	checksums := 0
	if m.res.Diff != "" {
		checksums = 3 * len(m.res.Events) // the events' fields
	}
	start := 0 // the first token of the field
	field := 0
	for _, r := range runs(perHost, m.counts) {
		for start+m.counts[field] <= r[0] {
			start += m.counts[field]
			field++
		}
		if field < checksums && field%3 != 2 && r[0] == start+3 && m.tokens[start] == "{" && m.tokens[start+2] == "}" {
			continue
		}
		out = append(out, strings.Join(m.tokens[r[0]:r[1]], ""))
	}
	return out
}

// runs returns the spans [start, end) of consecutive marked positions
// within one field (counts are the fields' token counts): each is one
// placeholder.
func runs(perHost []bool, counts []int) [][2]int {
	var out [][2]int
	p := 0
	for _, n := range counts {
		for q := p; q < p+n; q++ {
			if !perHost[q] {
				continue
			}
			if len(out) > 0 && out[len(out)-1][1] == q && q > p {
				out[len(out)-1][1] = q + 1
			} else {
				out = append(out, [2]int{q, q + 1})
			}
		}
		p += n
	}
	return out
}

// substituted returns r with host's certname and short hostname replaced
// by their placeholders wherever they stand as a whole word.
func substituted(r report.Resource, host string) report.Resource {
	short, _, _ := strings.Cut(host, ".")
	sub := func(s string) string {
		s = replaceWord(s, host, Certname)
		if short != host {
			s = replaceWord(s, short, Hostname)
		}
		return s
	}
	if len(r.Events) > 0 {
		evs := make([]report.Event, len(r.Events))
		for i, e := range r.Events {
			e.Previous, e.Desired, e.Message = sub(e.Previous), sub(e.Desired), sub(e.Message)
			evs[i] = e
		}
		r.Events = evs
	}
	r.Diff = sub(r.Diff)
	if len(r.Logs) > 0 {
		logs := make([]string, len(r.Logs))
		for i, l := range r.Logs {
			logs[i] = sub(l)
		}
		r.Logs = logs
	}
	return r
}

// replaceWord replaces old by repl where it is not part of a longer word
// (letters, digits or '_' on either side): node1 in node10 stays, node1 in
// node1-band is replaced.
func replaceWord(s, old, repl string) string {
	if old == "" || !strings.Contains(s, old) {
		return s
	}
	var b strings.Builder
	for {
		i := strings.Index(s, old)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		end := i + len(old)
		if (i > 0 && wordByte(s[i-1])) || (end < len(s) && wordByte(s[end])) {
			b.WriteString(s[:i+1])
			s = s[i+1:]
			continue
		}
		b.WriteString(s[:i])
		b.WriteString(repl)
		s = s[end:]
	}
}

// wordByte: letters, digits, '_' and every byte of a multi-byte rune.
func wordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c >= 0x80
}

// fields are the texts of a change that may hold a host's own values.
func fields(r *report.Resource) []string {
	out := make([]string, 0, 3*len(r.Events)+1+len(r.Logs))
	for _, e := range r.Events {
		out = append(out, e.Previous, e.Desired, e.Message)
	}
	out = append(out, r.Diff)
	return append(out, r.Logs...)
}

// tokenized returns the tokens of r's fields and its shape: the fields'
// token counts and everything else that must be equal (properties,
// statuses, failure).
func tokenized(r *report.Resource) ([]string, []int, string) {
	var toks []string
	var counts []int
	var shape []byte
	for _, e := range r.Events {
		shape = appendStr(shape, e.Property)
		shape = appendStr(shape, e.Status)
	}
	if r.Failed {
		shape = append(shape, 1)
	}
	shape = binary.AppendUvarint(shape, uint64(len(r.Logs)))
	for _, f := range fields(r) {
		n := len(toks)
		toks = tokens(f, toks)
		counts = append(counts, len(toks)-n)
		shape = binary.AppendUvarint(shape, uint64(len(toks)-n))
	}
	return toks, counts, string(shape)
}

// tokens appends the tokens of s: maximal runs of word bytes, and every
// other byte alone.
func tokens(s string, to []string) []string {
	for i := 0; i < len(s); {
		j := i + 1
		if wordByte(s[i]) {
			for j < len(s) && wordByte(s[j]) {
				j++
			}
		}
		to = append(to, s[i:j])
		i = j
	}
	return to
}

// patterned rebuilds m's change with PerHost at the marked positions;
// consecutive marked positions make one placeholder.
func patterned(m *member, perHost []bool) report.Resource {
	r := m.res
	texts := fields(&r)
	p := 0
	for i, n := range m.counts {
		var b strings.Builder
		for q := p; q < p+n; q++ {
			switch {
			case !perHost[q]:
				b.WriteString(m.tokens[q])
			case q == p || !perHost[q-1]:
				b.WriteString(PerHost)
			}
		}
		texts[i] = b.String()
		p += n
	}
	if len(r.Events) > 0 {
		evs := make([]report.Event, len(r.Events))
		for i, e := range r.Events {
			e.Previous, e.Desired, e.Message = texts[3*i], texts[3*i+1], texts[3*i+2]
			evs[i] = e
		}
		r.Events = evs
	}
	r.Diff = texts[3*len(r.Events)]
	if len(r.Logs) > 0 {
		r.Logs = append([]string(nil), texts[3*len(r.Events)+1:]...)
	}
	return r
}

// exactKey hashes the fields that make two changes "the same" (those of
// delta's group key), once placeholders are in.
func exactKey(r *report.Resource) [sha256.Size]byte {
	var b []byte
	b = appendStr(b, r.Type)
	b = appendStr(b, r.Title)
	b = appendStr(b, r.File)
	b = appendStr(b, r.DefineType)
	b = binary.AppendUvarint(b, uint64(len(r.Events)))
	for _, e := range r.Events {
		b = appendStr(b, e.Property)
		b = appendStr(b, e.Previous)
		b = appendStr(b, e.Desired)
		b = appendStr(b, e.Status)
		b = appendStr(b, e.Message)
	}
	b = appendStr(b, r.Diff)
	b = binary.AppendUvarint(b, uint64(len(r.Logs)))
	for _, l := range r.Logs {
		b = appendStr(b, l)
	}
	if r.Failed {
		b = append(b, 1)
	}
	return sha256.Sum256(b)
}

func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}
