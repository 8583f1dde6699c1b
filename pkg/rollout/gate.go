package rollout

import (
	"fmt"
	"strings"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// Gate is what a set waits for, once all its hosts have ended, before the
// next set starts: written `then: promote` (an operator's `applier
// promote`), `then: soak 10m` (a time after the set's last host ended, in
// time.ParseDuration's syntax), or omitted (no wait). Like Amount it is kept
// as the text it was written as, which is its form in YAML, JSON and
// msgpack; decoding never fails and Config.Validate reports a malformed
// gate. The zero Gate is no gate.
type Gate struct{ text string }

// PromoteGate is `then: promote`.
func PromoteGate() Gate { return Gate{"promote"} }

// SoakGate is `then: soak <d>`.
func SoakGate(d time.Duration) Gate { return Gate{"soak " + d.String()} }

// IsSet says whether there is a gate.
func (g Gate) IsSet() bool { return g.text != "" }

// IsZero says whether there is no gate (for omitempty and omitzero).
func (g Gate) IsZero() bool { return g.text == "" }

// Promote says whether the gate waits for `applier promote`.
func (g Gate) Promote() bool { return g.text == "promote" }

// Soak is the soak time of a soak gate (0 for any other gate).
func (g Gate) Soak() time.Duration {
	d, err := g.parse()
	if err != nil {
		return 0
	}
	return d
}

// String is the gate as written ("" when none).
func (g Gate) String() string { return g.text }

// MarshalText writes the gate as written.
func (g Gate) MarshalText() ([]byte, error) { return []byte(g.text), nil }

// EncodeMsgpack writes the text as a msgpack string (MarshalText alone
// would make it binary, which readers in other languages show as bytes).
func (g Gate) EncodeMsgpack(enc *msgpack.Encoder) error { return enc.EncodeString(g.text) }

// DecodeMsgpack reads what EncodeMsgpack wrote.
func (g *Gate) DecodeMsgpack(dec *msgpack.Decoder) error {
	s, err := dec.DecodeString()
	if err != nil {
		return err
	}
	return g.UnmarshalText([]byte(s))
}

// UnmarshalText keeps text with its blanks collapsed; it never fails (see
// Gate).
func (g *Gate) UnmarshalText(text []byte) error {
	g.text = strings.Join(strings.Fields(string(text)), " ")
	return nil
}

// parse returns the soak time of a soak gate, 0 for promote or none, and an
// error for anything else.
func (g Gate) parse() (time.Duration, error) {
	switch {
	case g.text == "" || g.text == "promote":
		return 0, nil
	case strings.HasPrefix(g.text, "soak "):
		d, err := time.ParseDuration(strings.TrimPrefix(g.text, "soak "))
		if err != nil {
			return 0, fmt.Errorf("%q: %w", g.text, err)
		}
		if d <= 0 {
			return 0, fmt.Errorf("%q: a soak time must be positive", g.text)
		}
		return d, nil
	case g.text == "soak":
		return 0, fmt.Errorf(`"soak": give a time, such as "soak 10m"`)
	}
	return 0, fmt.Errorf(`%q: want "promote" or "soak <time>" (such as "soak 10m")`, g.text)
}
