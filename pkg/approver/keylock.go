package approver

import (
	"context"
	"sync"
)

// keyedMutex is a mutex per key: holding one key's never delays another.
// Waiting honours ctx.
type keyedMutex struct {
	mu   sync.Mutex
	held map[string]chan struct{} // closed when the key is released
}

// lock waits until key is free or ctx ends, and returns the function
// that releases it.
func (k *keyedMutex) lock(ctx context.Context, key string) (unlock func(), err error) {
	for {
		k.mu.Lock()
		released, busy := k.held[key]
		if !busy {
			if k.held == nil {
				k.held = map[string]chan struct{}{}
			}
			mine := make(chan struct{})
			k.held[key] = mine
			k.mu.Unlock()
			return func() {
				k.mu.Lock()
				delete(k.held, key)
				k.mu.Unlock()
				close(mine)
			}, nil
		}
		k.mu.Unlock()
		select {
		case <-released:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}
