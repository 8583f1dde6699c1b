package puppet

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

func TestDisabled(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name     string
		content  *string // nil: no file
		message  string
		disabled bool
	}{
		{name: "no file"},
		{name: "with a message", content: ptr(`{"disabled_message":"kernel upgrade, kim"}`), message: "kernel upgrade, kim", disabled: true},
		{name: "without a message", content: ptr(`{}`), message: DisabledReason, disabled: true},
		{name: "null message", content: ptr(`{"disabled_message":null}`), message: DisabledReason, disabled: true},
		// Puppet disables on the file's presence, whatever it holds.
		{name: "empty", content: ptr(""), message: DisabledReason, disabled: true},
		{name: "not JSON", content: ptr("maintenance"), message: DisabledReason, disabled: true},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strconv.Itoa(i)+".lock")
			if tc.content != nil {
				writeFile(t, dir, filepath.Base(path), *tc.content, 0o644)
			}
			msg, disabled, err := Disabled(path)
			if err != nil || disabled != tc.disabled || msg != tc.message {
				t.Errorf("Disabled = %q, %v, %v; want %q, %v, nil", msg, disabled, err, tc.message, tc.disabled)
			}
		})
	}
}

// The lock file real Puppet writes: `puppet agent --disable` with and
// without a message (it writes "reason not specified" then).
func TestDisabledByRealPuppet(t *testing.T) {
	needPuppet(t)
	dir := t.TempDir()
	for _, tc := range []struct{ args []string }{{[]string{"--disable", "kernel upgrade"}}, {[]string{"--disable"}}} {
		lock := filepath.Join(dir, strconv.Itoa(len(tc.args))+".lock")
		args := append([]string{"agent"}, tc.args...)
		args = append(args, "--agent_disabled_lockfile", lock,
			"--vardir", filepath.Join(dir, "var"), "--confdir", filepath.Join(dir, "conf"),
			"--logdir", filepath.Join(dir, "log"), "--rundir", filepath.Join(dir, "run"))
		if out, err := exec.Command("puppet", args...).CombinedOutput(); err != nil {
			t.Fatalf("puppet %q: %v: %s", args, err, out)
		}
		data, _ := os.ReadFile(lock)
		msg, disabled, err := Disabled(lock)
		want := "reason not specified"
		if len(tc.args) == 2 {
			want = tc.args[1]
		}
		if err != nil || !disabled || msg != want {
			t.Errorf("after puppet %q (lock %q): Disabled = %q, %v, %v; want %q", args, data, msg, disabled, err, want)
		}
	}
}
