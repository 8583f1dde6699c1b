package chat

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/balcony-dev/balcony/pkg/protocol"
)

// MaxLine bounds a line's length in bytes: IRC's 512-byte messages, less
// the prefix the server adds and the command and target.
const MaxLine = 400

// Format renders b as one line: the commit's short sha and subject (when
// known), then what happened. People turn logins into nicks.
func Format(b *Batch, subject string, p People) string {
	head := protocol.Short(b.Commit)
	if head == "" {
		head = "?"
	}
	if subject != "" {
		head += fmt.Sprintf(" %q", subject)
	}
	return Clip(head + ": " + what(b, p))
}

// what says what b's events tell.
func what(b *Batch, p People) string {
	last := b.Last()
	n := len(b.Items)
	switch b.Type {
	case "noop.started":
		s := fmt.Sprintf("nooping on %d hosts", num(last.Data, "hosts"))
		if num(last.Data, "generation") > 0 {
			s = "re-" + s
		}
		return s
	case "noop.progress":
		s := fmt.Sprintf("noop: %d of %d hosts answered", num(last.Data, "answered"), num(last.Data, "hosts"))
		if m := strs(last.Data, "missing"); len(m) > 0 {
			s += "; waiting for " + list(m, 5)
		}
		return s
	case "noop.ready":
		s := fmt.Sprintf("noop ready: %s on %s", plural(len(strs(last.Data, "groups")), "change group"), plural(num(last.Data, "hosts"), "host"))
		if e := num(last.Data, "errors"); e > 0 {
			s += ", " + plural(e, "error")
		}
		if u := strs(last.Data, "unanswered"); len(u) > 0 {
			s += ", unanswered: " + list(u, 5)
		}
		return s + " · review: nooper show " + protocol.Short(b.Commit)
	case "approval.needed":
		var owners []string
		for _, it := range b.Items {
			owners = append(owners, logins(it.Event.Data["owners"])...)
		}
		s := plural(n, "change group") + " " + map[bool]string{true: "needs", false: "need"}[n == 1] + " approval"
		if len(owners) > 0 {
			return s + " from " + list(nicks(owners, p), 8) + " · approve " + protocol.Short(b.Commit)
		}
		if m, _ := last.Data["missing"].(string); m != "" {
			return s + ": " + m
		}
		return s
	case "approval.granted":
		var by []string
		for _, it := range b.Items {
			by = append(by, strs(it.Event.Data, "by")...)
		}
		return fmt.Sprintf("%s approved by %s", plural(n, "change group"), list(nicks(by, p), 8))
	case "approval.lapsed":
		var who []string
		for _, it := range b.Items {
			who = append(who, strs(it.Event.Data, "lapsed")...)
		}
		return fmt.Sprintf("approval of %s by %s lapsed: the change is not what was approved", plural(n, "change group"), list(nicks(who, p), 8))
	case "approval.complete":
		return fmt.Sprintf("approved (%s)", plural(num(last.Data, "groups"), "change group"))
	case "approval.revoked":
		return "approval withdrawn: " + last.Text
	case "apply.started":
		return fmt.Sprintf("apply started: %s, %s (rollout %s)", plural(num(last.Data, "commits"), "commit"), plural(num(last.Data, "hosts"), "host"), str(last.Data, "rollout"))
	case "apply.set.done":
		var sets []string
		for _, it := range b.Items {
			sets = append(sets, str(it.Event.Data, "set"))
		}
		return fmt.Sprintf("apply: set %s done (%s)", list(sets, 8), counts(last.Data))
	case "apply.host.failed":
		var hosts []string
		for _, it := range b.Items {
			hosts = append(hosts, it.Event.Host)
		}
		s := "apply failed on " + list(hosts, 8)
		if r := str(last.Data, "reason"); r != "" {
			s += ": " + r
		}
		return s
	case "apply.halted":
		r := str(last.Data, "reason")
		if r == "" {
			r = last.Text
		}
		return "apply HALTED: " + r
	case "apply.resumed", "apply.cancelled":
		return "apply " + strings.TrimPrefix(b.Type, "apply.") + " by " + p.Nick(str(last.Data, "by"))
	case "apply.complete":
		return fmt.Sprintf("apply complete (%s)", counts(last.Data))
	}
	return last.Text
}

// Clip shortens s to MaxLine bytes on a rune boundary, marking the cut.
func Clip(s string) string {
	s = strings.ReplaceAll(strings.ReplaceAll(s, "\r", " "), "\n", " ")
	if len(s) <= MaxLine {
		return s
	}
	cut := MaxLine - len("…")
	for cut > 0 && (s[cut]&0xC0) == 0x80 {
		cut--
	}
	return s[:cut] + "…"
}

// logins collects the "logins" lists anywhere in v, an approval.needed
// event's owners (a group's file, module and node ownerships).
func logins(v any) []string {
	var out []string
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			if k == "logins" {
				out = append(out, anyStrs(x)...)
			} else {
				out = append(out, logins(x)...)
			}
		}
	case []any:
		for _, x := range t {
			out = append(out, logins(x)...)
		}
	}
	return out
}

// nicks maps logins to nicks, once each, sorted.
func nicks(ls []string, p People) []string {
	seen := map[string]bool{}
	var out []string
	for _, l := range ls {
		n := p.Nick(l)
		if n != "" && !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// list joins xs with commas, at most max of them and how many more.
func list(xs []string, max int) string {
	if len(xs) == 0 {
		return "nobody"
	}
	if len(xs) > max {
		return strings.Join(xs[:max], ", ") + fmt.Sprintf(" and %d more", len(xs)-max)
	}
	return strings.Join(xs, ", ")
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// counts reads an applier event's host counts.
func counts(d map[string]any) string {
	c, _ := d["counts"].(map[string]any)
	var parts []string
	for _, k := range []string{"done", "failed", "skipped", "running", "pending"} {
		if n := num(c, k); n > 0 || k == "done" {
			parts = append(parts, fmt.Sprintf("%s %d", k, n))
		}
	}
	return strings.Join(parts, ", ")
}

// num reads a number of an event's data (JSON numbers are float64).
func num(d map[string]any, k string) int {
	switch v := d[k].(type) {
	case float64:
		return int(v)
	case int:
		return v
	}
	return 0
}

func str(d map[string]any, k string) string {
	s, _ := d[k].(string)
	return s
}

func strs(d map[string]any, k string) []string { return anyStrs(d[k]) }

func anyStrs(v any) []string {
	switch t := v.(type) {
	case []string:
		return t
	case []any:
		out := make([]string, 0, len(t))
		for _, x := range t {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// SubjectOf reads the commit's subject from an event's text, where the
// services quote it after the short sha ("nooping 0123456789ab \"fix\"
// on 3 hosts"); false when the text does not.
func SubjectOf(ev protocol.Event) (string, bool) {
	short := protocol.Short(ev.Commit)
	if short == "" {
		return "", false
	}
	i := strings.Index(ev.Text, short+` "`)
	if i < 0 {
		return "", false
	}
	q, err := strconv.QuotedPrefix(ev.Text[i+len(short)+1:])
	if err != nil {
		return "", false
	}
	s, err := strconv.Unquote(q)
	return s, err == nil
}
