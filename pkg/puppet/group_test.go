package puppet

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// The test binary plays an agent when this variable names what to do:
// "run" runs a noop of the code in BALCONY_TEST_CODE and never returns
// while it blocks; "restart" recovers, prints what it ended as JSON, waits
// for a line on stdin, then runs a noop of BALCONY_TEST_CODE.
const agentEnv = "BALCONY_TEST_AGENT"

func TestMain(m *testing.M) {
	if mode := os.Getenv(agentEnv); mode != "" {
		if err := playAgent(mode); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func playAgent(mode string) error {
	r, err := NewRunner(Options{
		Certname: "fozzie.example.com", ScratchDir: os.Getenv("BALCONY_TEST_SCRATCH"), Timeout: 10 * time.Minute,
	})
	if err != nil {
		return err
	}
	ctx := context.Background()
	if mode == "restart" {
		ended, err := r.Recover(ctx, 0)
		if err != nil {
			return err
		}
		if err := json.NewEncoder(os.Stdout).Encode(ended); err != nil {
			return err
		}
		if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
			return err
		}
	}
	res, err := r.Run(ctx, os.Getenv("BALCONY_TEST_CODE"), true)
	if err != nil {
		return err
	}
	if len(res.ReportYAML) == 0 {
		return fmt.Errorf("no report; stderr:\n%s", res.Stderr)
	}
	return nil
}

// leftovers counts the live processes of the recorded run: in its process
// group, or carrying its RunEnv.
func leftovers(t *testing.T, rec groupRecord) int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	marker := []byte(RunEnv + "=" + rec.Run + "\x00")
	n := 0
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		pgrp, _, state, err := procStat(pid)
		if err == nil && state != "Z" && (pgrp == rec.PGID || hasEnv(pid, marker)) {
			n++
		}
	}
	return n
}

// TestKilledAgentLeavesNoPuppet kills an agent with kill -9 while its
// Puppet runs an exec's unless check (which a noop runs too), then starts
// the agent again: before its first run, nothing of the old Puppet's
// process group is left, nor its scratch directory (with the catalog).
func TestKilledAgentLeavesNoPuppet(t *testing.T) {
	needPuppet(t)
	dir, scratch := t.TempDir(), t.TempDir()
	fifo := filepath.Join(dir, "started")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	slow := filepath.Join(dir, "slow")
	writeFile(t, slow, "manifests/site.pp", `node default {
  exec { 'slow check':
    command => '/bin/true',
    unless  => "/bin/sh -c 'echo started > `+fifo+`; exec sleep 600'",
  }
}
`, 0o644)
	quick := filepath.Join(dir, "quick")
	writeFile(t, quick, "manifests/site.pp", "node default {\n  notify { 'hello': }\n}\n", 0o644)
	// Generous: each step is a Puppet run or less.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()

	first := agentCommand(ctx, t, "run", slow, scratch)
	first.Stderr = os.Stderr
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = first.Process.Kill(); _ = first.Wait() })
	started := make(chan error, 1)
	go func() {
		f, err := os.Open(fifo) // blocks until the check opens it
		if err == nil {
			_, err = io.ReadAll(f)
			f.Close()
		}
		started <- err
	}()
	select {
	case err := <-started:
		if err != nil {
			t.Fatal(err)
		}
	case <-ctx.Done():
		t.Fatal("the exec's check never started")
	}
	rec := recordedGroup(t, scratch)
	t.Cleanup(func() { _ = syscall.Kill(-rec.PGID, syscall.SIGKILL); killMarked(rec.Run) })
	if leftovers(t, rec) < 2 {
		t.Fatalf("puppet and its exec's check are not running (group %d)", rec.PGID)
	}

	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = first.Wait()

	second := agentCommand(ctx, t, "restart", quick, scratch)
	second.Stderr = os.Stderr
	stdin, err := second.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := second.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := second.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = second.Process.Kill(); _ = second.Wait() })
	var ended []Leftover
	if err := json.NewDecoder(stdout).Decode(&ended); err != nil {
		t.Fatalf("the restarted agent recovered nothing: %v", err)
	}
	t.Logf("recovered: %+v", ended)
	// Recovered, the new agent has not run yet.
	if n := leftovers(t, rec); n != 0 {
		t.Errorf("%d processes of the old puppet (group %d) left after the restart", n, rec.PGID)
	}
	if left, _ := os.ReadDir(scratch); len(left) != 0 {
		t.Errorf("the killed run's scratch dir is left: %v", left)
	}
	if _, err := io.WriteString(stdin, "run\n"); err != nil {
		t.Fatal(err)
	}
	if err := second.Wait(); err != nil {
		t.Fatalf("the restarted agent's run: %v", err)
	}
}

func agentCommand(ctx context.Context, t *testing.T, mode, code, scratch string) *exec.Cmd {
	t.Helper()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), agentEnv+"="+mode, "BALCONY_TEST_CODE="+code, "BALCONY_TEST_SCRATCH="+scratch)
	return cmd
}

// recordedGroup reads the one process group recorded in scratch.
func recordedGroup(t *testing.T, scratch string) groupRecord {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(scratch, scratchPrefix+"*", groupFile))
	if err != nil || len(paths) != 1 {
		t.Fatalf("recorded groups %q, %v; want one", paths, err)
	}
	data, err := os.ReadFile(paths[0])
	if err != nil {
		t.Fatal(err)
	}
	var rec groupRecord
	if err := json.Unmarshal(data, &rec); err != nil {
		t.Fatal(err)
	}
	return rec
}

// startGroup starts script in a process group of its own, recorded as a
// run's in scratch, and returns its record. Marked, its processes carry
// the run's RunEnv.
func startGroup(t *testing.T, scratch, script string, marked bool) groupRecord {
	t.Helper()
	run, err := os.MkdirTemp(scratch, scratchPrefix)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/bin/sh", "-c", script)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if marked {
		cmd.Env = append(os.Environ(), RunEnv+"="+run)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	t.Cleanup(func() { _ = syscall.Kill(-pid, syscall.SIGKILL); killMarked(run) })
	// Reap it as soon as it ends, as init would.
	go func() { _ = cmd.Wait() }()
	if err := recordGroup(filepath.Join(run, groupFile), run, pid); err != nil {
		t.Fatal(err)
	}
	return recordedGroup(t, scratch)
}

func TestRecover(t *testing.T) {
	tests := []struct {
		name   string
		script string
		// alter changes the record before Recover reads it.
		alter      func(*groupRecord)
		wantEnded  bool
		wantKilled bool
		wantAlive  bool // the group is still there after Recover
		unmarked   bool // its processes do not carry RunEnv
	}{
		{name: "a group that ends on SIGTERM", script: "sleep 600 & sleep 600", wantEnded: true},
		{name: "a group that ignores SIGTERM", script: "trap '' TERM; sleep 600 & sleep 600", wantEnded: true, wantKilled: true},
		{
			// As Puppet's execs: setsid leaves the group, RunEnv stays.
			name: "processes in a session of their own", script: "setsid sleep 600 & setsid sleep 600 & wait",
			wantEnded: true,
		},
		{
			name: "the run's processes once the pgid names another group", script: "sleep 600",
			alter:     func(r *groupRecord) { r.Start-- },
			wantEnded: true,
		},
		{
			name: "a pgid now led by another process", script: "sleep 600", unmarked: true,
			alter:     func(r *groupRecord) { r.Start-- },
			wantAlive: true,
		},
		{
			name: "a record of an earlier boot", script: "sleep 600",
			alter:     func(r *groupRecord) { r.BootID = "an-earlier-boot" },
			wantAlive: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			scratch := t.TempDir()
			rec := startGroup(t, scratch, tc.script, !tc.unmarked)
			if tc.alter != nil {
				tc.alter(&rec)
				data, err := json.Marshal(rec)
				if err != nil {
					t.Fatal(err)
				}
				paths, _ := filepath.Glob(filepath.Join(scratch, scratchPrefix+"*", groupFile))
				writeFile(t, filepath.Dir(paths[0]), groupFile, string(data), 0o600)
			}
			// An unfinished run without a group record: its scratch goes too.
			if _, err := os.MkdirTemp(scratch, scratchPrefix); err != nil {
				t.Fatal(err)
			}
			r := newRunner(t, Options{ScratchDir: scratch})
			// Recover returns once the group is gone: a group that ends on
			// SIGTERM is given all the time a loaded machine may need to
			// end it; one that ignores it is killed after a short grace
			// whatever the machine's speed.
			grace := time.Minute
			if tc.wantKilled {
				grace = 100 * time.Millisecond
			}
			ended, err := r.Recover(t.Context(), grace)
			if err != nil {
				t.Fatalf("Recover: %v", err)
			}
			if tc.wantEnded {
				if len(ended) != 1 || ended[0].PGID != rec.PGID || ended[0].Processes < 1 || ended[0].Killed != tc.wantKilled {
					t.Errorf("ended %+v, want group %d, killed %v", ended, rec.PGID, tc.wantKilled)
				}
			} else if len(ended) != 0 {
				t.Errorf("ended %+v, want none", ended)
			}
			if alive := leftovers(t, rec) > 0; alive != tc.wantAlive {
				t.Errorf("group %d alive after Recover: %v, want %v", rec.PGID, alive, tc.wantAlive)
			}
			if left, _ := os.ReadDir(scratch); len(left) != 0 {
				t.Errorf("scratch dirs left: %v", left)
			}
		})
	}
}

func TestRecoverRejectsABadRecord(t *testing.T) {
	scratch := t.TempDir()
	writeFile(t, scratch, "run-1/"+groupFile, `{"run":"/x","pgid":1,"start":1,"boot_id":"x"}`, 0o600)
	writeFile(t, scratch, "run-2/"+groupFile, `not json`, 0o600)
	r := newRunner(t, Options{ScratchDir: scratch})
	if _, err := r.Recover(t.Context(), 0); err == nil {
		t.Fatal("Recover accepted a record naming pgid 1 or garbage")
	}
	if _, err := os.Stat(filepath.Join(scratch, "run-1")); errors.Is(err, os.ErrNotExist) {
		t.Error("Recover removed the scratch of a run it could not end")
	}
}
