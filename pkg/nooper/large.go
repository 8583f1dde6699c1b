package nooper

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/delta"
	"github.com/balcony-dev/balcony/pkg/protocol"
)

// storedResult is a result kept in the object store: versioned like
// every stored record.
type storedResult struct {
	Schema int           `msgpack:"schema"`
	Result *delta.Result `msgpack:"result"`
}

// encode is the noops record of c: c itself when it fits in a value;
// otherwise c without its result, which it puts in the object store under
// a name made of the commit and a hash of the encoded result (so an
// unchanged result, saved again, is not put again). It sets
// c.ResultObject to what the record points to.
func (s *store) encode(ctx context.Context, c *Collection) ([]byte, error) {
	record := *c
	record.ResultObject = ""
	data, err := bus.Marshal(&record)
	if err != nil || len(data) <= s.limit || c.Result == nil {
		if err == nil && len(data) > s.limit {
			err = &bus.SizeError{What: "noop record", Size: len(data), Limit: s.limit}
		}
		if err == nil {
			c.ResultObject = ""
		}
		return data, err
	}
	obs, err := s.results.open(ctx)
	if err != nil {
		return nil, fmt.Errorf("a result of %d bytes needs the object store: %w", len(data), err)
	}
	res, err := bus.Marshal(storedResult{Schema: protocol.SchemaVersion, Result: c.Result})
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(res)
	name := c.Commit.SHA + "." + hex.EncodeToString(sum[:12])
	if name != c.ResultObject {
		if _, err := obs.PutBytes(ctx, name, res); err != nil {
			return nil, fmt.Errorf("put a result of %d bytes in %s: %w", len(res), ResultsBucket, err)
		}
	}
	record.Result, record.ResultObject = nil, name
	data, err = bus.Marshal(&record)
	if err == nil && len(data) > s.limit {
		// Its needs alone are too large: a fleet far larger than
		// streams.yaml is sized for.
		err = &bus.SizeError{What: "noop record without its result", Size: len(data), Limit: s.limit}
	}
	if err != nil {
		return nil, err
	}
	c.ResultObject = name
	return data, nil
}

// largeResult reads a result from the object store.
func (s *store) largeResult(ctx context.Context, name string) (*delta.Result, error) {
	obs, err := s.results.open(ctx)
	if err != nil {
		return nil, err
	}
	info, err := obs.GetInfo(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("read %s from %s: %w", name, ResultsBucket, err)
	}
	ctx, cancel := bus.ObjectContext(ctx, info.Size)
	defer cancel()
	data, err := obs.GetBytes(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("read %s from %s: %w", name, ResultsBucket, err)
	}
	var r storedResult
	if err := bus.Unmarshal(data, &r); err != nil {
		// %v: see record.
		return nil, fmt.Errorf("stored result %s is unreadable: %v", name, err)
	}
	if r.Result == nil {
		return nil, errors.New("stored result " + name + " is empty")
	}
	return r.Result, nil
}

// dropResult deletes the object old once the record points elsewhere.
// A failure leaves an object nobody reads, which is all it costs.
func (s *store) dropResult(ctx context.Context, old, current string) {
	if old == "" || old == current {
		return
	}
	if obs, err := s.results.open(ctx); err == nil {
		_ = obs.Delete(ctx, old)
	}
}

// objects opens the object store when it is first needed, and again
// after a failure: a nooper started before it was provisioned (with
// --provision=false) stores large results once it is.
type objects struct {
	js  jetstream.JetStream
	mu  sync.Mutex
	obs jetstream.ObjectStore
}

func (o *objects) open(ctx context.Context) (jetstream.ObjectStore, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.obs == nil {
		obs, err := o.js.ObjectStore(ctx, ResultsBucket)
		if err != nil {
			return nil, fmt.Errorf("object store %s: %w", ResultsBucket, err)
		}
		o.obs = obs
	}
	return o.obs, nil
}
