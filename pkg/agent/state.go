package agent

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// cursorFile is the agent's position in RUNS: the sequence of the last run
// it finished. It is written atomically after each run, so a crash re-runs
// at most the run that was in progress. The state directory is locked so
// that two agents never share it.
type cursorFile struct {
	path string
	lock *os.File

	mu  sync.Mutex
	seq uint64
}

func openCursor(dir string) (*cursorFile, error) {
	lock, err := os.OpenFile(filepath.Join(dir, "agent.lock"), os.O_CREATE|os.O_RDWR, 0o640)
	if err != nil {
		return nil, fmt.Errorf("agent lock: %w", err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		return nil, fmt.Errorf("agent state %s is in use by another agent: %w", dir, err)
	}
	c := &cursorFile{path: filepath.Join(dir, "runs.cursor"), lock: lock}
	data, err := os.ReadFile(c.path)
	switch {
	case os.IsNotExist(err):
	case err != nil:
		c.Close()
		return nil, fmt.Errorf("read cursor: %w", err)
	default:
		seq, err := strconv.ParseUint(strings.TrimSpace(string(data)), 10, 64)
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("cursor %s is corrupt (%q): delete it to re-read every stored run", c.path, data)
		}
		c.seq = seq
	}
	return c, nil
}

func (c *cursorFile) Seq() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.seq
}

// Set records that the run at seq is finished.
func (c *cursorFile) Set(seq uint64) error {
	tmp := c.path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("write cursor: %w", err)
	}
	_, err = fmt.Fprintf(f, "%d\n", seq)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, c.path)
	}
	if err != nil {
		return fmt.Errorf("write cursor: %w", err)
	}
	c.mu.Lock()
	c.seq = seq
	c.mu.Unlock()
	return nil
}

func (c *cursorFile) Close() {
	if c.lock != nil {
		c.lock.Close()
		c.lock = nil
	}
}
