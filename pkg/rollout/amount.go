package rollout

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/vmihailenco/msgpack/v5"
)

// Amount is a number of hosts written as a count ("3") or as a percentage
// of a number of hosts ("10%", "2.5%": at most two decimals). It is kept as
// the text it was written as, and that text is its form in YAML, JSON and
// msgpack, so a stored plan shows what the operator wrote. Decoding never
// fails: a malformed amount is reported by Config.Validate, which names the
// set and the field. The zero Amount is unset (the field was omitted).
//
// Two roundings, both exact in integers:
//   - a batch (BatchOf) rounds a percentage up and is at least one host, as
//     Ansible's serial does;
//   - an allowance of failures (AllowanceOf) rounds a percentage down, as
//     Ansible's max_fail_percentage does, and a threshold is exceeded only
//     when the failures are MORE than the allowance: max_failures 10% of 15
//     hosts allows 1 failure and halts at the 2nd; 0 halts at the 1st.
type Amount struct{ text string }

// Count is an Amount of n hosts.
func Count(n int) Amount { return Amount{strconv.Itoa(n)} }

// Percent is an Amount of p percent of the hosts (p in hundredths is kept
// exactly: Percent(2.5) is "2.5%").
func Percent(p float64) Amount {
	return Amount{strconv.FormatFloat(p, 'f', -1, 64) + "%"}
}

// ParseAmount parses "3" or "10%" and fails with the reason when s is
// neither; it does not check ranges, which depend on the field
// (Config.Validate does).
func ParseAmount(s string) (Amount, error) {
	a := Amount{strings.TrimSpace(s)}
	if _, _, err := a.parse(); err != nil {
		return Amount{}, err
	}
	return a, nil
}

// IsSet says whether the amount was given.
func (a Amount) IsSet() bool { return a.text != "" }

// IsZero says whether the amount is unset (for omitempty and omitzero).
func (a Amount) IsZero() bool { return a.text == "" }

// IsPercent says whether the amount is a percentage.
func (a Amount) IsPercent() bool { return strings.HasSuffix(a.text, "%") }

// String is the amount as written ("" when unset).
func (a Amount) String() string { return a.text }

// MarshalText writes the amount as written.
func (a Amount) MarshalText() ([]byte, error) { return []byte(a.text), nil }

// EncodeMsgpack writes the text as a msgpack string (MarshalText alone
// would make it binary, which readers in other languages show as bytes).
func (a Amount) EncodeMsgpack(enc *msgpack.Encoder) error { return enc.EncodeString(a.text) }

// DecodeMsgpack reads what EncodeMsgpack wrote.
func (a *Amount) DecodeMsgpack(dec *msgpack.Decoder) error {
	s, err := dec.DecodeString()
	if err != nil {
		return err
	}
	return a.UnmarshalText([]byte(s))
}

// UnmarshalText keeps text as written, trimmed; it never fails (see Amount).
func (a *Amount) UnmarshalText(text []byte) error {
	a.text = strings.TrimSpace(string(text))
	return nil
}

// BatchOf is the batch size the amount gives for n hosts: all n when unset,
// a count capped at n, a percentage rounded up; at least 1 when n > 0.
// An amount that does not parse counts as unset (validate first).
func (a Amount) BatchOf(n int) int {
	if n <= 0 {
		return 0
	}
	v, pct, err := a.parse()
	if err != nil || !a.IsSet() {
		return n
	}
	b := int(v)
	if pct {
		b = int((v*int64(n) + 9999) / 10000)
	}
	return max(1, min(b, n))
}

// AllowanceOf is how many failed hosts among n the amount allows before a
// threshold is exceeded: 0 when unset, a count as is, a percentage rounded
// down. An amount that does not parse allows nothing (validate first).
func (a Amount) AllowanceOf(n int) int {
	v, pct, err := a.parse()
	if err != nil || !a.IsSet() {
		return 0
	}
	if pct {
		return int(v * int64(max(n, 0)) / 10000)
	}
	return int(v)
}

// errAmount is the shape of a well-formed amount, for error messages.
var errAmount = errors.New(`want a count of hosts ("3") or a percentage ("10%", at most two decimals)`)

// parse reads the amount: a count, or a percentage in hundredths of a
// percent (basis points), so every rounding is exact integer arithmetic.
// The unset amount parses as a count of 0.
func (a Amount) parse() (v int64, percent bool, err error) {
	s := a.text
	if s == "" {
		return 0, false, nil
	}
	if num, ok := strings.CutSuffix(s, "%"); ok {
		whole, frac, dot := strings.Cut(strings.TrimSpace(num), ".")
		if !digits(whole) || (dot && (!digits(frac) || len(frac) > 2)) {
			return 0, true, fmt.Errorf("%q: %w", s, errAmount)
		}
		w, err := strconv.ParseInt(whole, 10, 64)
		if err != nil || w > 100 {
			return 0, true, fmt.Errorf("%q: a percentage is at most 100%%", s)
		}
		f, _ := strconv.ParseInt((frac + "00")[:2], 10, 64)
		return w*100 + f, true, nil
	}
	if !digits(s) {
		return 0, false, fmt.Errorf("%q: %w", s, errAmount)
	}
	n, err := strconv.ParseInt(s, 10, 32)
	if err != nil {
		return 0, false, fmt.Errorf("%q: too large", s)
	}
	return n, false, nil
}

// digits says whether s is one or more ASCII digits (no sign, no spaces).
func digits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
