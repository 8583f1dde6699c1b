package committer

import (
	"fmt"

	"github.com/balcony-dev/balcony/pkg/gitrepo"
)

// MarkBaseline records the current tip of each configured branch that has
// no published marker yet as published, and returns what it marked. The
// hook's installer calls it: history from before balcony is not nooped,
// and a first push made while the bus is down is then published in full by
// the next one (without a marker, the next push would start from its own
// old tip and skip it).
func MarkBaseline(repoPath string, branches []string) (map[string]string, error) {
	repo, err := gitrepo.Open(repoPath)
	if err != nil {
		return nil, err
	}
	defer repo.Close()
	tips, err := repo.Branches()
	if err != nil {
		return nil, err
	}
	if len(branches) == 0 {
		branches = []string{DefaultBranch}
	}
	marked := map[string]string{}
	for _, b := range branches {
		tip, ok := tips[b]
		if !ok {
			continue
		}
		if _, has, err := repo.Published(b); err != nil || has {
			if err != nil {
				return marked, err
			}
			continue
		}
		if err := repo.SetPublished(b, tip); err != nil {
			return marked, fmt.Errorf("mark %s: %w", b, err)
		}
		marked[b] = tip
	}
	return marked, nil
}
