package bus

import (
	"errors"
	"fmt"
)

// HeaderRoom is what PayloadLimit keeps free of the server's max_payload
// for a message's headers (Nats-Msg-Id, Content-Type, micro's and
// balcony's own), which count towards the limit.
const HeaderRoom = 16 << 10

// ErrTooLarge is wrapped by a *SizeError: a payload over the bus's limit,
// which no retry can send.
var ErrTooLarge = errors.New("larger than the bus's limit")

// SizeError says by how much a payload exceeds the bus's limit.
type SizeError struct {
	What  string // what was too large: "report", "commit event"
	Size  int    // encoded bytes
	Limit int    // PayloadLimit at the time
}

func (e *SizeError) Error() string {
	return fmt.Sprintf("%s of %d bytes is %d bytes %s of %d bytes", e.What, e.Size, e.Size-e.Limit, ErrTooLarge, e.Limit)
}

// Is makes errors.Is(err, ErrTooLarge) hold.
func (e *SizeError) Is(target error) bool { return target == ErrTooLarge }

// PayloadLimit is the largest payload this connection can publish in one
// message: the server's max_payload (8 MiB on the embedded server), less
// HeaderRoom. Values larger than that go to an object store or are cut.
func (c *Conn) PayloadLimit() int {
	return PayloadLimitOf(c.NC.MaxPayload())
}

// PayloadLimitOf is PayloadLimit for a server's max_payload.
func PayloadLimitOf(maxPayload int64) int {
	return int(max(maxPayload-HeaderRoom, 1024))
}
