package tail

import (
	"fmt"
	"sort"
	"strings"

	"github.com/balcony-dev/balcony/pkg/bus"
)

// ErrSpansStreams is returned by StreamFor for a filter that matches
// subjects of more than one stream (or of a stream and outside it), which
// no single consumer can read.
var ErrSpansStreams = fmt.Errorf("the subject spans streams")

// StreamFor names the stream of decl (a bucket's KV_<bucket>, an object
// store's OBJ_<bucket>) that holds every subject filter matches; "" when
// none holds any of them (a request subject: read by plain subscription).
// A filter that matches the subjects of a stream only in part (balcony.>)
// fails with ErrSpansStreams. Pure: no I/O.
func StreamFor(decl *bus.Declaration, filter string) (string, error) {
	type stream struct {
		name     string
		subjects []string
	}
	var all []stream
	for _, s := range decl.Streams {
		all = append(all, stream{s.Name, s.Subjects})
	}
	for _, b := range decl.KV {
		all = append(all, stream{"KV_" + b.Bucket, []string{"$KV." + b.Bucket + ".>"}})
	}
	for _, o := range decl.Objects {
		all = append(all, stream{"OBJ_" + o.Bucket, []string{"$O." + o.Bucket + ".>"}})
	}
	var overlapping []string
	for _, s := range all {
		for _, pattern := range s.subjects {
			if subsetOf(filter, pattern) {
				return s.name, nil
			}
			if overlaps(filter, pattern) {
				overlapping = append(overlapping, s.name)
				break
			}
		}
	}
	if len(overlapping) > 0 {
		sort.Strings(overlapping)
		return "", fmt.Errorf("%w: %s matches part of %s; give a subject within one stream (balcony.report.> rather than balcony.>)", ErrSpansStreams, filter, strings.Join(overlapping, ", "))
	}
	return "", nil
}

// subsetOf tells whether every subject filter matches is matched by
// pattern (both may hold the wildcards * and >).
func subsetOf(filter, pattern string) bool {
	f, p := strings.Split(filter, "."), strings.Split(pattern, ".")
	for i, pt := range p {
		if pt == ">" {
			return len(f) > i
		}
		if i >= len(f) {
			return false
		}
		switch {
		case f[i] == ">":
			return false
		case pt == "*":
		case f[i] != pt:
			return false
		}
	}
	return len(f) == len(p)
}

// overlaps tells whether some subject is matched by both filter and
// pattern.
func overlaps(filter, pattern string) bool {
	f, p := strings.Split(filter, "."), strings.Split(pattern, ".")
	for i := 0; ; i++ {
		switch {
		case i == len(f) || i == len(p):
			return len(f) == len(p)
		case f[i] == ">" || p[i] == ">":
			return true
		case f[i] == "*" || p[i] == "*" || f[i] == p[i]:
		default:
			return false
		}
	}
}
