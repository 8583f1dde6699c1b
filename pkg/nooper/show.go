package nooper

import (
	"context"

	"github.com/nats-io/nats.go/jetstream"
)

// Load returns the stored noop collection of rev (a full sha or an
// unambiguous prefix), reading the nooper's buckets directly: for tests.
// Other services ask the nooper (Client.Collection), whose buckets are its
// own. It wraps ErrUnknownCommit when there is none.
func Load(ctx context.Context, js jetstream.JetStream, rev string) (*Collection, error) {
	st, err := openStore(ctx, js)
	if err != nil {
		return nil, err
	}
	sha, err := st.resolve(ctx, rev)
	if err != nil {
		return nil, err
	}
	c, err := st.collection(ctx, sha)
	if err != nil {
		return nil, err
	}
	if err := st.withNeeds(ctx, c); err != nil {
		return nil, err
	}
	if err := st.answer(ctx, c); err != nil {
		return nil, err
	}
	return c, nil
}
