package owners

import (
	"encoding/json"
	"strconv"

	"github.com/balcony-dev/balcony/pkg/delta"
	"github.com/balcony-dev/balcony/pkg/report"
)

// canonicalGroup is the byte string GroupDigest hashes: a JSON object whose
// members this function writes itself, in a fixed order, each under an
// explicit name. It is built field by field, never by encoding a Go
// struct, so a field added to delta.Group, report.Resource or report.Event
// changes no digest (and lapses no approval) until it is written here.
//
// The encoding (unchanged since approvals began; it equals what
// encoding/json wrote for these structs, so digests stored in approvals
// stay valid):
//
//	group    = {"id":S,"resource":resource,"hosts":[S,...] or null
//	            [,"changed_during_noop":true]}
//	resource = {"id":S,"type":S,"title":S[,"file":S][,"line":N]
//	            [,"define_type":S][,"containment_path":[S,...]]
//	            [,"events":[event,...]][,"diff":S][,"logs":[S,...]]
//	            [,"failed":true][,"changed_during_noop":true]}
//	event    = {"property":S,"previous":S,"desired":S,"status":S
//	            [,"message":S]}
//
// S is a JSON string as encoding/json writes one (quoted, with <, >, &,
// U+2028 and U+2029 escaped and invalid UTF-8 replaced by U+FFFD), N a
// decimal integer. A bracketed member is left out when its value is empty
// (the empty string, 0, false or an empty list); no spaces anywhere.
//
// To bind approvals to a new field, add it as a bracketed member left out
// when empty, after the existing members: digests of groups without it
// stay the same. Changing anything else lapses every approval given.
func canonicalGroup(g delta.Group) []byte {
	var w canonicalWriter
	w.open()
	w.str("id", g.ID)
	w.key("resource")
	w.resource(g.Resource)
	w.key("hosts")
	if g.Hosts == nil {
		w.raw("null")
	} else {
		w.strings(g.Hosts)
	}
	if g.ChangedDuringNoop {
		w.member("changed_during_noop", "true")
	}
	w.close()
	return w.buf
}

func (w *canonicalWriter) resource(r report.Resource) {
	w.open()
	w.str("id", r.ID)
	w.str("type", r.Type)
	w.str("title", r.Title)
	w.optStr("file", r.File)
	if r.Line != 0 {
		w.member("line", strconv.Itoa(r.Line))
	}
	w.optStr("define_type", r.DefineType)
	w.optStrings("containment_path", r.ContainmentPath)
	if len(r.Events) > 0 {
		w.key("events")
		w.raw("[")
		for i, e := range r.Events {
			if i > 0 {
				w.raw(",")
			}
			w.event(e)
		}
		w.raw("]")
	}
	w.optStr("diff", r.Diff)
	w.optStrings("logs", r.Logs)
	if r.Failed {
		w.member("failed", "true")
	}
	if r.ChangedDuringNoop {
		w.member("changed_during_noop", "true")
	}
	w.close()
}

func (w *canonicalWriter) event(e report.Event) {
	w.open()
	w.str("property", e.Property)
	w.str("previous", e.Previous)
	w.str("desired", e.Desired)
	w.str("status", e.Status)
	w.optStr("message", e.Message)
	w.close()
}

// canonicalWriter appends JSON objects member by member; first is set
// after an object opens, so that the first member has no comma before it.
type canonicalWriter struct {
	buf   []byte
	first bool
}

func (w *canonicalWriter) raw(s string) { w.buf = append(w.buf, s...) }

func (w *canonicalWriter) open() { w.raw("{"); w.first = true }

func (w *canonicalWriter) close() { w.raw("}"); w.first = false }

func (w *canonicalWriter) key(name string) {
	if !w.first {
		w.raw(",")
	}
	w.first = false
	w.quote(name)
	w.raw(":")
}

func (w *canonicalWriter) member(name, value string) { w.key(name); w.raw(value) }

func (w *canonicalWriter) str(name, s string) { w.key(name); w.quote(s) }

func (w *canonicalWriter) optStr(name, s string) {
	if s != "" {
		w.str(name, s)
	}
}

func (w *canonicalWriter) strings(list []string) {
	w.raw("[")
	for i, s := range list {
		if i > 0 {
			w.raw(",")
		}
		w.quote(s)
	}
	w.raw("]")
}

func (w *canonicalWriter) optStrings(name string, list []string) {
	if len(list) > 0 {
		w.key(name)
		w.strings(list)
	}
}

// quote appends s as encoding/json quotes a string: the escaping is part
// of the encoding above.
func (w *canonicalWriter) quote(s string) {
	// Most strings (titles, paths, digests, host names) need no escape:
	// written as they are, they are what encoding/json writes, at a
	// fraction of its cost (a digest per group of a 1,000-group delta).
	if plainJSON(s) {
		w.buf = append(append(append(w.buf, '"'), s...), '"')
		return
	}
	b, err := json.Marshal(s)
	if err != nil {
		// Unreachable: encoding/json encodes every string.
		panic("owners: cannot quote a string: " + err.Error())
	}
	w.buf = append(w.buf, b...)
}

// plainJSON tells whether encoding/json writes s between quotes as it is:
// printable ASCII without a quote, a backslash or the characters it
// escapes for HTML (<, >, &).
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c > 0x7e, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return false
		}
	}
	return true
}
