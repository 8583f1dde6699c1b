package bus

import (
	"context"
	"time"
)

// ObjectContext bounds the download of an object store object of size
// bytes when ctx has no deadline of its own. Without one, nats.go gives
// the whole download the JetStream request timeout (5 s by default), which
// a large object on a busy server exceeds: the read then fails though
// every chunk is coming. The bound follows from the work: a minute, and a
// second more for every 256 KiB, so only a download that has stalled hits
// it.
func ObjectContext(ctx context.Context, size uint64) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, ObjectTimeout(size))
}

// ObjectTimeout is ObjectContext's bound for size bytes.
func ObjectTimeout(size uint64) time.Duration {
	return time.Minute + time.Duration(size/(256<<10))*time.Second
}
