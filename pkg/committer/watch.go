package committer

import (
	"context"
	"time"

	"github.com/balcony-dev/balcony/pkg/gitrepo"
)

// DefaultInterval is Watch's interval when given interval <= 0.
const DefaultInterval = 30 * time.Second

// Watch publishes what the repository's configured branches gain, until ctx
// ends: on each tick it fetches repo when fetch is set (repo is then the
// mirror at c's RepoPath, normally c.Repo()), calls c.Sync, then waits
// interval (DefaultInterval when <= 0) or for ctx. The first tick runs at
// once. A failed fetch or sync is logged and retried on the next tick, so
// Watch returns only when ctx ends, with nil.
func Watch(ctx context.Context, c *Committer, repo *gitrepo.Repo, interval time.Duration, fetch bool) error {
	if interval <= 0 {
		interval = DefaultInterval
	}
	log := c.log.With().Bool("fetch", fetch).Float64("interval_seconds", interval.Seconds()).Logger()
	log.Info().Msg("watching")
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			log.Info().Msg("stopped watching")
			return nil
		case <-timer.C:
		}
		if fetch && repo != nil {
			if err := repo.Fetch(ctx); err != nil && ctx.Err() == nil {
				log.Warn().Err(err).Str("path", repo.Path()).Msg("fetch failed, retrying next tick")
			}
		}
		if n, err := c.Sync(ctx); err != nil && ctx.Err() == nil {
			log.Warn().Err(err).Int("published", n).Msg("sync failed, retrying next tick")
		}
		timer.Reset(interval)
	}
}
