package puppet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ErrLocked is wrapped when the context ended while Run waited for the
// puppet agent's run lock (Options.LockFile) to be released.
var ErrLocked = errors.New("puppet agent holds its run lock")

// waitLock returns once Options.LockFile names no live lock holder: the
// file is missing, or holds no pid, or the pid of a process that is gone
// (a stale lock, which Puppet itself would clear). It checks every
// LockPoll. When ctx ends first it returns an error wrapping ErrLocked and
// ctx's error.
func (r *Runner) waitLock(ctx context.Context) error {
	path := r.opts.LockFile
	if path == "" {
		return nil
	}
	var tick *time.Ticker
	for {
		pid, held := LockHolder(path)
		if !held {
			return nil
		}
		if r.lockWaitHook != nil {
			r.lockWaitHook()
		}
		if tick == nil {
			tick = time.NewTicker(r.opts.LockPoll)
			defer tick.Stop()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (%s, pid %d): %w", ErrLocked, path, pid, context.Cause(ctx))
		case <-tick.C:
		}
	}
}

// LockHolder reads Puppet's pid lock file (the puppet agent's
// agent_catalog_run.lock) and tells whether the process it names is alive. kill(pid, 0) failing with EPERM still means alive: the
// process exists but belongs to another user. A missing or unreadable
// file, or content that is not a pid, is no lock.
func LockHolder(path string) (pid int, held bool) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	pid, err = strconv.Atoi(strings.TrimSpace(string(data)))
	// pid 0 and negative pids would make kill(2) address process groups.
	if err != nil || pid <= 0 || pid > math.MaxInt32 {
		return 0, false
	}
	err = syscall.Kill(pid, 0)
	return pid, err == nil || errors.Is(err, syscall.EPERM)
}

// DisabledReason is what Disabled says of a disable lock without a
// message.
const DisabledReason = "disabled"

// Disabled reads the lock file `puppet agent --disable [MESSAGE]` writes
// (agent_disabled_lockfile, JSON {"disabled_message": MESSAGE}) and tells
// whether Puppet is disabled, with its message. As for Puppet itself, the
// file's presence is what disables: one that is empty, not JSON or without
// a message is disabled with the message DisabledReason. A missing file is
// not disabled; a file whose presence cannot be told is an error.
func Disabled(path string) (message string, disabled bool, err error) {
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "", false, nil
	case err != nil:
		if _, serr := os.Stat(path); serr != nil {
			if errors.Is(serr, fs.ErrNotExist) {
				return "", false, nil
			}
			return "", false, fmt.Errorf("puppet's disable lock: %w", serr)
		}
		// It exists but cannot be read: disabled, message unknown.
		return DisabledReason, true, nil
	}
	var lock struct {
		Message string `json:"disabled_message"`
	}
	if json.Unmarshal(data, &lock) != nil || strings.TrimSpace(lock.Message) == "" {
		return DisabledReason, true, nil
	}
	return strings.TrimSpace(lock.Message), true, nil
}
