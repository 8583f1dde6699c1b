package puppet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Each Puppet process runs in a process group of its own, recorded in its
// run's scratch directory while it runs. An agent killed with kill -9
// cannot stop what its Puppet started (Pdeathsig stops Puppet itself, not
// facter or an exec's unless check), so the next agent does, in Recover,
// before its first run. Puppet starts every exec command in a session of
// its own (setsid), out of the group: every process of a run also carries
// the run's scratch directory in its environment (RunEnv), inherited by
// what Puppet starts, and Recover ends the processes that carry it too.

// RunEnv is the environment variable naming the scratch directory of the
// run that started the process.
const RunEnv = "BALCONY_PUPPET_RUN"

// scratchPrefix names a run's scratch directory inside Options.ScratchDir.
const scratchPrefix = "run-"

// groupFile, inside a run's scratch directory, records the process group
// of the Puppet running there.
const groupFile = "puppet.group"

// groupRecord identifies a process group across a restart of the agent.
// The pgid alone could name another group once the number is reused, so
// the leader's start time and the boot are recorded too.
type groupRecord struct {
	// Run is the run's scratch directory, the value of RunEnv.
	Run  string `json:"run"`
	PGID int    `json:"pgid"`
	// Start is the leader's start time in clock ticks after boot
	// (field 22 of /proc/<pid>/stat).
	Start  uint64 `json:"start"`
	BootID string `json:"boot_id"`
}

// DefaultGrace is how long Recover waits for a leftover Puppet to end
// after SIGTERM before it sends SIGKILL.
const DefaultGrace = 10 * time.Second

// Leftover is a Puppet process group that Recover ended.
type Leftover struct {
	PGID int
	// Processes counts the processes of the group found alive.
	Processes int
	// Killed is true when some outlived SIGTERM and got SIGKILL.
	Killed bool
}

// Recover ends what runs that never finished left behind: the process
// group of each Puppet recorded in a scratch directory (SIGTERM, then
// SIGKILL after grace; DefaultGrace when grace is 0), then the scratch
// directory itself, which may hold a compiled catalog and its secrets.
// It returns the groups it ended. Call it before the first Run, and only
// when Options.ScratchDir belongs to this runner alone (the agent's state
// directory, which the agent holds locked): every scratch directory in it
// is then a run of a runner that has died. It blocks until the groups are
// gone or ctx ends.
func (r *Runner) Recover(ctx context.Context, grace time.Duration) ([]Leftover, error) {
	if grace <= 0 {
		grace = DefaultGrace
	}
	dirs, err := filepath.Glob(filepath.Join(r.opts.ScratchDir, scratchPrefix+"*"))
	if err != nil {
		return nil, fmt.Errorf("puppet scratch dir: %w", err)
	}
	var ended []Leftover
	for _, dir := range dirs {
		data, err := os.ReadFile(filepath.Join(dir, groupFile))
		if err == nil {
			var rec groupRecord
			if err := json.Unmarshal(data, &rec); err != nil {
				return ended, fmt.Errorf("read %s: %w", filepath.Join(dir, groupFile), err)
			}
			left, err := endGroup(ctx, rec, grace)
			if err != nil {
				return ended, err
			}
			if left.Processes > 0 {
				ended = append(ended, left)
			}
		} else if !errors.Is(err, os.ErrNotExist) {
			return ended, fmt.Errorf("read %s: %w", filepath.Join(dir, groupFile), err)
		}
		if err := os.RemoveAll(dir); err != nil {
			return ended, fmt.Errorf("remove a leftover scratch dir: %w", err)
		}
	}
	return ended, nil
}

// startAndWait starts cmd, records its process group in the scratch
// directory while it runs and waits for it.
func startAndWait(cmd *exec.Cmd, scratch string) error {
	// Pdeathsig fires when the thread that started the child ends, not
	// the process: this goroutine keeps its thread until the child is
	// reaped, so that only the agent's death stops Puppet.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := cmd.Start(); err != nil {
		return err
	}
	path := filepath.Join(scratch, groupFile)
	if err := recordGroup(path, scratch, cmd.Process.Pid); err != nil {
		// Unrecorded, it could outlive a crash unseen: do not run it.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
		return fmt.Errorf("record puppet's process group: %w", err)
	}
	err := cmd.Wait()
	if rerr := os.Remove(path); rerr != nil && err == nil {
		err = fmt.Errorf("clear puppet's process group record: %w", rerr)
	}
	return err
}

// recordGroup writes the record of the group led by pid, atomically.
func recordGroup(path, run string, pid int) error {
	_, start, _, err := procStat(pid)
	if err != nil {
		return err
	}
	boot, err := bootID()
	if err != nil {
		return err
	}
	data, err := json.Marshal(groupRecord{Run: run, PGID: pid, Start: start, BootID: boot})
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// endGroup ends the processes of the recorded run, if any is alive:
// SIGTERM, then SIGKILL to those left after grace.
func endGroup(ctx context.Context, rec groupRecord, grace time.Duration) (Leftover, error) {
	left := Leftover{PGID: rec.PGID}
	pids, err := rec.alive()
	if err != nil || len(pids) == 0 {
		return left, err
	}
	left.Processes = len(pids)
	graceCtx, cancel := context.WithTimeout(ctx, grace)
	defer cancel()
	if gone, err := signalUntilGone(graceCtx, rec, syscall.SIGTERM); err != nil || gone {
		return left, err
	}
	left.Killed = true
	if gone, err := signalUntilGone(ctx, rec, syscall.SIGKILL); err != nil || gone {
		return left, err
	}
	return left, fmt.Errorf("end puppet's processes (group %d): %w", rec.PGID, ctx.Err())
}

// signalUntilGone sends sig to every live process of the run, again every
// 50ms to those still there (or started since), until none is left
// (true) or ctx ends (false). Processes that are not the agent's children
// cannot be waited for.
func signalUntilGone(ctx context.Context, rec groupRecord, sig syscall.Signal) (bool, error) {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		pids, err := rec.alive()
		if err != nil || len(pids) == 0 {
			return len(pids) == 0, err
		}
		for _, pid := range pids {
			if err := syscall.Kill(pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
				return false, fmt.Errorf("signal puppet's process %d: %w", pid, err)
			}
		}
		select {
		case <-ctx.Done():
			return false, nil
		case <-tick.C:
		}
	}
}

// alive lists the live processes (zombies are dead) of the recorded run:
// those carrying its RunEnv, and those of its process group. A pgid stays
// reserved while any process of its group lives, so after a reboot, or
// when the number now names a younger leader, nothing of the recorded
// group can be left.
func (rec groupRecord) alive() ([]int, error) {
	if rec.PGID <= 1 || rec.Run == "" {
		return nil, fmt.Errorf("puppet's process record names pgid %d, run %q", rec.PGID, rec.Run)
	}
	boot, err := bootID()
	if err != nil || boot != rec.BootID {
		return nil, err
	}
	group := true
	if _, start, _, err := procStat(rec.PGID); err == nil && start != rec.Start {
		group = false
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	marker := []byte(RunEnv + "=" + rec.Run + "\x00")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		pgrp, start, state, err := procStat(pid)
		if err != nil || state == "Z" || state == "X" {
			continue
		}
		if group && pgrp == rec.PGID && start >= rec.Start || hasEnv(pid, marker) {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// killMarked sends SIGKILL to every process that carries the run's
// RunEnv: what Puppet started in sessions of their own, out of its group.
func killMarked(run string) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return
	}
	marker := []byte(RunEnv + "=" + run + "\x00")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err == nil && pid != os.Getpid() && hasEnv(pid, marker) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// hasEnv tells whether the process's initial environment holds the
// NUL-terminated entry.
func hasEnv(pid int, entry []byte) bool {
	env, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	return err == nil && (bytes.HasPrefix(env, entry) || bytes.Contains(env, append([]byte{0}, entry...)))
}

// procStat reads a process's group, start time and state from
// /proc/<pid>/stat. The command name (field 2) may hold spaces and
// parentheses, so the fields are counted after its last ')'.
func procStat(pid int) (pgrp int, start uint64, state string, err error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, "", err
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, 0, "", fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state), f[2] field 5 (pgrp), f[19] field 22.
	if len(f) < 20 {
		return 0, 0, "", fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f)+2)
	}
	if pgrp, err = strconv.Atoi(f[2]); err != nil {
		return 0, 0, "", fmt.Errorf("/proc/%d/stat pgrp: %w", pid, err)
	}
	if start, err = strconv.ParseUint(f[19], 10, 64); err != nil {
		return 0, 0, "", fmt.Errorf("/proc/%d/stat starttime: %w", pid, err)
	}
	return pgrp, start, f[0], nil
}

func bootID() (string, error) {
	data, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return "", fmt.Errorf("boot id: %w", err)
	}
	return strings.TrimSpace(string(data)), nil
}
