package codebus

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Heads lists the revisions at the tips of the chains of packs in the
// store: those no other pack names as its base, which are the branches'
// newest published revisions (and a rewound branch's earlier tip), newest
// first, at most limit of them. An agent that was stopped fetches them
// when it starts, so that the code is there before a run asks for it; a
// revision not among them is fetched when announced or asked for.
//
// Objects whose name or metadata is not balcony's are skipped: Heads only
// says what to fetch, and Fetch verifies it.
func (f *Fetcher) Heads(ctx context.Context, limit int) ([]string, error) {
	objs, err := f.store.List(ctx)
	if errors.Is(err, jetstream.ErrNoObjectsFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", Bucket, err)
	}
	published := map[string]time.Time{}
	based := map[string]bool{}
	for _, oi := range objs {
		kind, sha, ok := strings.Cut(oi.Name, ".")
		if !ok || (kind != KindPack && kind != KindFull) || checkSHA(sha) != nil {
			continue
		}
		i, err := infoOf(kind, sha, oi)
		if err != nil {
			continue
		}
		if t, seen := published[sha]; !seen || oi.ModTime.After(t) {
			published[sha] = oi.ModTime
		}
		for _, b := range i.Bases {
			based[b] = true
		}
	}
	var tips []string
	for sha := range published {
		if !based[sha] {
			tips = append(tips, sha)
		}
	}
	slices.SortFunc(tips, func(a, b string) int {
		if c := published[b].Compare(published[a]); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	if len(tips) > limit {
		tips = tips[:limit]
	}
	return tips, nil
}
