package owners

import (
	"encoding/json"
	"testing"
)

// TestQuoteIsJSON: the canonical encoding quotes every string exactly as
// encoding/json does, whether it takes the plain path or not: a digest
// that changed would make every stored approval lapse.
func TestQuoteIsJSON(t *testing.T) {
	in := []string{"", "File[/etc/motd]", "a\"b", `back\slash`, "<html>&", "tab\there", "new\nline", "é", "\u2028", "\xff", "~\x7f"}
	for c := 0; c < 128; c++ {
		in = append(in, "x"+string(rune(c))+"y")
	}
	for _, s := range in {
		var w canonicalWriter
		w.quote(s)
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if string(w.buf) != string(want) {
			t.Errorf("quote(%q) = %s, want %s", s, w.buf, want)
		}
	}
}
