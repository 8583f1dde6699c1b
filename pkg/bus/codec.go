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
		return fmt.Errorf("%w: not a msgpack map: %v", ErrMalformed, err)
	}
	if head.Schema != protocol.SchemaVersion {
		return fmt.Errorf("%w: schema version %d, want %d", ErrMalformed, head.Schema, protocol.SchemaVersion)
	}
	if err := msgpack.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%w: %T: %v", ErrMalformed, v, err)
	}
	return nil
}
