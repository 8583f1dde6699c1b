package committer_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/balcony-dev/balcony/pkg/committer"
	"github.com/balcony-dev/balcony/pkg/gitrepo"
	"github.com/balcony-dev/balcony/pkg/gitrepo/gittest"
	"github.com/balcony-dev/balcony/pkg/metrics/metricstest"
)

// TestWatch runs Watch on a mirror in a synctest bubble: time.Sleep there
// advances the fake clock at once, so the test waits for nothing real.
func TestWatch(t *testing.T) {
	f := gittest.New(t)
	a := f.Commit("A", nil)
	f.Push("main")
	mirrorDir := filepath.Join(t.TempDir(), "mirror.git")

	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		mirror, err := gitrepo.Mirror(ctx, f.Bare, mirrorDir)
		if err != nil {
			t.Fatal(err)
		}
		pub := &fakePublisher{}
		reg := prometheus.NewRegistry()
		c, err := committer.New(committer.Options{
			RepoName: "puppet", RepoPath: mirrorDir, Source: committer.SourceWatch,
			Log: zerolog.New(zerolog.NewTestWriter(t)), Registerer: reg,
		}, pub)
		if err != nil {
			t.Fatal(err)
		}
		const interval = time.Minute
		done := make(chan error)
		go func() { done <- committer.Watch(ctx, c, mirror, interval, true) }()

		synctest.Wait() // first tick ran at once
		if got := summarize(pub.take()); !equalEvents(got, []event{{branch: "main", new: a, subjects: []string{"A"}}}) {
			t.Errorf("first tick: %+v", got)
		}

		// The bus fails for one tick: the commit is published on the next.
		pub.setFail(errors.New("bus down"))
		b := f.Commit("B", nil)
		f.Push("main")
		time.Sleep(interval)
		synctest.Wait()
		if got := pub.take(); len(got) != 0 {
			t.Errorf("published while failing: %+v", got)
		}
		pub.setFail(nil)
		time.Sleep(interval)
		synctest.Wait()
		if got := summarize(pub.take()); !equalEvents(got, []event{{branch: "main", old: a, new: b, subjects: []string{"B"}}}) {
			t.Errorf("after recovery: %+v", got)
		}
		// Two events of one commit each published, one failed, all by
		// the watch.
		for name, want := range map[string]float64{
			"balcony_committer_events_total": 2, "balcony_committer_commits_total": 2, "balcony_committer_publish_failures_total": 1,
		} {
			if got := metricstest.Value(t, reg, name, "source", committer.SourceWatch); got != want {
				t.Errorf("%s = %v, want %v", name, got, want)
			}
		}

		cancel()
		if err := <-done; err != nil {
			t.Errorf("Watch = %v", err)
		}
	})
}
