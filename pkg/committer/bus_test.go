package committer_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/balcony-dev/balcony/pkg/bus/bustest"
	"github.com/balcony-dev/balcony/pkg/committer"
	"github.com/balcony-dev/balcony/pkg/protocol"
)

// TestPublishedCommitEventsCannotBeSuppressed: an event another publisher
// sent first under the id the committer's would have (repo:ref:new, as the
// committer used to name its events) does not make the server drop the
// committer's own event as a duplicate. Such a forged event, sent before
// the push, is rejected by the nooper; were the real one dropped, the push
// would never be nooped.
func TestPublishedCommitEventsCannotBeSuppressed(t *testing.T) {
	conn := bustest.Start(t)
	ctx := context.Background()
	sha := strings.Repeat("a", 40)
	ev := protocol.CommitEvent{Schema: protocol.SchemaVersion, Repo: "puppet", Ref: "refs/heads/main", Branch: "main", New: sha, Source: "hook", Time: time.Now().UTC()}
	if _, err := conn.Publish(ctx, "balcony.commit.puppet", "puppet:refs/heads/main:"+sha, ev); err != nil {
		t.Fatal(err)
	}
	if err := (committer.BusPublisher{Conn: conn}).PublishCommits(ctx, ev); err != nil {
		t.Fatal(err)
	}
	s, err := conn.JS.Stream(ctx, "COMMITS")
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 2 {
		t.Errorf("COMMITS holds %d events, want the forged one and the committer's", info.State.Msgs)
	}
}
