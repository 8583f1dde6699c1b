package nooper

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go/micro"
)

// A reply larger than one message (a result over the bus's payload
// limit) is served in chunks. The request's payload stays the revision;
// headers carry the rest, so that `nats req balcony.nooper.show <rev>`
// still gets a small document whole:
//
//   - OffsetHeader (request): the byte of the document to start from;
//     absent means 0.
//   - DigestHeader (request, with an offset): the digest of the document
//     the earlier chunks came from, so that the same document is served
//     even if the noop moved on meanwhile.
//   - TotalHeader, DigestHeader (reply): the document's size and digest.
//
// Client.fetch reassembles them.
const (
	OffsetHeader = "Balcony-Offset"
	TotalHeader  = "Balcony-Total"
	DigestHeader = "Balcony-Digest"
)

// chunkKeep is how long a chunked document is kept for the requests of
// its other chunks, and chunkDocs how many are kept at once.
const (
	chunkKeep = time.Minute
	chunkDocs = 4
)

// chunks keeps the documents being served in chunks, by digest.
type chunks struct {
	mu   sync.Mutex
	docs map[string]chunkDoc
}

type chunkDoc struct {
	data []byte
	at   time.Time
}

func digestOf(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:16])
}

// kept returns the document of digest when it is kept.
func (c *chunks) kept(digest string) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	d, ok := c.docs[digest]
	return d.data, ok
}

// keep remembers data, dropping the documents kept too long and, beyond
// chunkDocs, the oldest.
func (c *chunks) keep(digest string, data []byte, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.docs == nil {
		c.docs = map[string]chunkDoc{}
	}
	for k, d := range c.docs {
		if now.Sub(d.at) > chunkKeep {
			delete(c.docs, k)
		}
	}
	for len(c.docs) >= chunkDocs {
		oldest := ""
		for k, d := range c.docs {
			if oldest == "" || d.at.Before(c.docs[oldest].at) {
				oldest = k
			}
		}
		delete(c.docs, oldest)
	}
	c.docs[digest] = chunkDoc{data: data, at: now}
}

// serve answers req with the chunk of the document it asks for, at most
// limit bytes. build makes the document; it is called unless the request
// continues a document that is kept.
func (c *chunks) serve(req micro.Request, limit int, build func() ([]byte, error)) {
	offset := 0
	if h := req.Headers().Get(OffsetHeader); h != "" {
		n, err := strconv.Atoi(h)
		if err != nil || n < 0 {
			_ = req.Error("400", fmt.Sprintf("bad %s %q", OffsetHeader, h), nil)
			return
		}
		offset = n
	}
	var data []byte
	digest := req.Headers().Get(DigestHeader)
	if offset > 0 && digest != "" {
		data, _ = c.kept(digest)
	}
	if data == nil {
		var err error
		if data, err = build(); err != nil {
			replyError(req, err)
			return
		}
		digest = digestOf(data)
	}
	if offset > len(data) {
		_ = req.Error("400", fmt.Sprintf("%s %d is past the document's %d bytes", OffsetHeader, offset, len(data)), nil)
		return
	}
	end := min(len(data), offset+limit)
	if offset == 0 && end < len(data) {
		c.keep(digest, data, time.Now())
	}
	_ = req.Respond(data[offset:end], micro.WithHeaders(micro.Headers{
		TotalHeader:  {strconv.Itoa(len(data))},
		DigestHeader: {digest},
	}))
}
