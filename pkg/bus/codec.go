package bus

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/balcony-dev/balcony/pkg/protocol"
)

// ContentTypeMsgpack is the Content-Type header of msgpack payloads.
const ContentTypeMsgpack = "application/msgpack"

// ErrMalformed is wrapped by every decoding failure: the message is
// rejected with the reason, never retried.
var ErrMalformed = errors.New("malformed message")

// Reason classes of rejected messages: the bounded label of the
// rejections metric (never the free-text reason).
const (
	// RejectUndecodable: not msgpack of the expected shape.
	RejectUndecodable = "undecodable"
	// RejectSchema: a schema version this build does not speak.
	RejectSchema = "schema"
	// RejectInvalid: decoded, but failing a check (wrong subject, a run
	// nobody asked, a bad field).
	RejectInvalid = "invalid"
)

// classified is an error of a known reason class; its text is the
// error's own.
type classified struct {
	class string
	err   error
}

func (c classified) Error() string { return c.err.Error() }
func (c classified) Unwrap() error { return c.err }

// RejectClass is the reason class of a rejected message's error.
func RejectClass(err error) string {
	var c classified
	if errors.As(err, &c) {
		return c.class
	}
	return RejectInvalid
}

// Marshal encodes v as msgpack, using the struct's msgpack tags.
func Marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.SetCustomStructTag("msgpack")
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("encode %T: %w", v, err)
	}
	return buf.Bytes(), nil
}

// Unmarshal decodes a versioned msgpack payload into v. It fails, wrapping
// ErrMalformed, when the data is not msgpack of the right shape or its
// schema field is not protocol.SchemaVersion.
func Unmarshal(data []byte, v any) error {
	var head struct {
		Schema int `msgpack:"schema"`
	}
	if err := msgpack.Unmarshal(data, &head); err != nil {
		return fmt.Errorf("%w: not a msgpack map: %w", ErrMalformed, classified{RejectUndecodable, err})
	}
	if head.Schema != protocol.SchemaVersion {
		return fmt.Errorf("%w: %w", ErrMalformed, classified{RejectSchema, fmt.Errorf("schema version %d, want %d", head.Schema, protocol.SchemaVersion)})
	}
	if err := msgpack.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%w: %T: %w", ErrMalformed, v, classified{RejectUndecodable, err})
	}
	return nil
}
