package tail

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/protocol"
)

// Record is one message as `nooper tail` prints it: one JSON object per
// line. Exactly one of Payload, Text and Base64 is set for a non-empty
// payload; Error says why a payload was not decoded as its subject's type
// (Payload then holds what could still be read, or Base64 the bytes).
type Record struct {
	Stream string `json:"stream,omitempty"`
	Seq    uint64 `json:"seq,omitempty"`
	// Subject is the message's own subject, not the filter it matched.
	Subject string `json:"subject"`
	// Time is when the stream stored the message; Received, for a message
	// read by plain subscription (outside any stream), when it arrived.
	Time     *time.Time `json:"time,omitempty"`
	Received *time.Time `json:"received,omitempty"`
	// Headers are the message's headers (Nats-Msg-Id, Content-Type, ...),
	// a string for a single value, a list otherwise.
	Headers map[string]any `json:"headers,omitempty"`
	// KV names the bucket, key and operation of a key-value entry.
	KV *KVEntry `json:"kv,omitempty"`
	// Type is what the payload was decoded as: a protocol type
	// (protocol.RunResult), "json", "msgpack" (generic), "text",
	// "object-chunk" or "empty".
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
	Text    *string         `json:"text,omitempty"`
	Base64  string          `json:"base64,omitempty"`
	Error   string          `json:"error,omitempty"`
}

// KVEntry is the key-value side of a message on $KV.<bucket>.<key>.
type KVEntry struct {
	Bucket string `json:"bucket"`
	Key    string `json:"key"`
	// Op is PUT, DEL or PURGE (the KV-Operation header; PUT when absent).
	Op string `json:"op"`
}

// typed maps a subject prefix to the protocol type its payloads are
// encoded as (msgpack, with a schema version).
var typed = []struct {
	prefix string
	name   string
	new    func() any
}{
	{bus.CommitPrefix, "protocol.CommitEvent", func() any { return new(protocol.CommitEvent) }},
	{bus.RunPrefix, "protocol.RunRequest", func() any { return new(protocol.RunRequest) }},
	{bus.ReportPrefix, "protocol.RunResult", func() any { return new(protocol.RunResult) }},
	{"balcony.github.comment", "protocol.GitHubComment", func() any { return new(protocol.GitHubComment) }},
}

// Decode fills in r's KV, Type, Payload, Text, Base64 and Error from a
// message's subject, headers and payload. It never fails: what it cannot
// decode it shows as base64 with the reason in Error. Pure: no I/O.
func Decode(r *Record, subject string, header nats.Header, data []byte) {
	if bucket, key, ok := kvKey(subject); ok {
		op := header.Get("KV-Operation")
		if op == "" {
			op = "PUT"
		}
		r.KV = &KVEntry{Bucket: bucket, Key: key, Op: op}
		if len(data) == 0 {
			r.Type = "empty"
			return
		}
		decodeGeneric(r, data)
		return
	}
	if len(data) == 0 {
		r.Type = "empty"
		return
	}
	for _, t := range typed {
		if strings.HasPrefix(subject, t.prefix) {
			decodeTyped(r, t.name, t.new(), data)
			return
		}
	}
	switch {
	case strings.HasPrefix(subject, bus.EventPrefix):
		decodeJSON(r, data)
	case strings.HasPrefix(subject, "$O.") && strings.Contains(subject, ".C."):
		// An object store chunk is raw bytes of a larger object.
		r.Type = "object-chunk"
		r.Base64 = base64.StdEncoding.EncodeToString(data)
	default:
		decodeByContent(r, header.Get("Content-Type"), data)
	}
}

// kvKey splits $KV.<bucket>.<key>.
func kvKey(subject string) (bucket, key string, ok bool) {
	rest, ok := strings.CutPrefix(subject, "$KV.")
	if !ok {
		return "", "", false
	}
	bucket, key, ok = strings.Cut(rest, ".")
	return bucket, key, ok && bucket != "" && key != ""
}

// decodeTyped decodes a versioned msgpack payload as v; when that fails
// (another schema version, a wrong shape) it shows the payload decoded
// generically, or as base64, with the reason.
func decodeTyped(r *Record, name string, v any, data []byte) {
	if err := bus.Unmarshal(data, v); err != nil {
		decodeGeneric(r, data)
		r.Error = fmt.Sprintf("not a %s: %v", name, err)
		return
	}
	out, err := json.Marshal(v)
	if err != nil {
		undecodable(r, data, fmt.Errorf("encode %s as JSON: %w", name, err))
		return
	}
	r.Type, r.Payload = name, out
}

// decodeGeneric decodes msgpack into generic values.
func decodeGeneric(r *Record, data []byte) {
	rd := bytes.NewReader(data)
	dec := msgpack.NewDecoder(rd)
	// Maps of any key (jsonable prints the keys), not only strings.
	dec.SetMapDecoder(func(d *msgpack.Decoder) (any, error) { return d.DecodeUntypedMap() })
	v, err := dec.DecodeInterface()
	if err == nil && rd.Len() > 0 {
		err = fmt.Errorf("%d bytes after the msgpack value", rd.Len())
	}
	if err != nil {
		undecodable(r, data, fmt.Errorf("not msgpack: %w", err))
		return
	}
	out, err := json.Marshal(jsonable(v))
	if err != nil {
		undecodable(r, data, fmt.Errorf("msgpack value as JSON: %w", err))
		return
	}
	r.Type, r.Payload = "msgpack", out
}

// decodeJSON keeps a JSON payload as it is.
func decodeJSON(r *Record, data []byte) {
	if !json.Valid(data) {
		undecodable(r, data, fmt.Errorf("not JSON"))
		return
	}
	var compact bytes.Buffer
	_ = json.Compact(&compact, data) // valid, so it compacts
	r.Type, r.Payload = "json", compact.Bytes()
}

// decodeByContent reads a payload of a subject without a known type (a
// request, a reply, a service's): by its Content-Type, else JSON, else
// text, else msgpack, else base64.
func decodeByContent(r *Record, contentType string, data []byte) {
	switch {
	case contentType == bus.ContentTypeMsgpack:
		decodeGeneric(r, data)
	case contentType == "application/json" || json.Valid(data):
		decodeJSON(r, data)
	case utf8.Valid(data) && printable(data):
		s := string(data)
		r.Type, r.Text = "text", &s
	default:
		decodeGeneric(r, data)
	}
}

func printable(data []byte) bool {
	for _, c := range string(data) {
		if c < 0x20 && c != '\n' && c != '\r' && c != '\t' {
			return false
		}
	}
	return true
}

func undecodable(r *Record, data []byte, err error) {
	r.Type, r.Payload, r.Text = "bytes", nil, nil
	r.Base64 = base64.StdEncoding.EncodeToString(data)
	r.Error = err.Error()
}

// jsonable turns a generic msgpack value into one encoding/json takes:
// maps with non-string keys get their keys printed, and floats JSON
// cannot hold (NaN, infinities) become strings.
func jsonable(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = jsonable(e)
		}
		return x
	case map[any]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[fmt.Sprint(k)] = jsonable(e)
		}
		return out
	case []any:
		for i, e := range x {
			x[i] = jsonable(e)
		}
		return x
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Sprint(x)
		}
	case float32:
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return fmt.Sprint(x)
		}
	}
	return v
}

// headers flattens h: one value as a string, several as a list.
func headers(h nats.Header) map[string]any {
	if len(h) == 0 {
		return nil
	}
	out := make(map[string]any, len(h))
	for k, vs := range h {
		if len(vs) == 1 {
			out[k] = vs[0]
		} else {
			out[k] = vs
		}
	}
	return out
}
