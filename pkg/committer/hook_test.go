package committer_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/balcony-dev/balcony/pkg/committer"
	"github.com/balcony-dev/balcony/pkg/gitrepo/gittest"
)

func TestInstallHook(t *testing.T) {
	const foreign = "#!/bin/sh\necho mine\n"
	tests := []struct {
		name     string
		existing string // post-receive before install; "" for none
		force    bool
		notBare  bool
		plainDir bool
		want     error
	}{
		{name: "fresh bare repository"},
		{name: "replaces its own hook", existing: "#!/bin/sh\n# balcony committer hook: written by `committer install-hook`, replaced on reinstall\nexec /old hook\n"},
		{name: "refuses a foreign hook", existing: foreign, want: committer.ErrForeignHook},
		{name: "replaces a foreign hook with force", existing: foreign, force: true},
		{name: "refuses a work tree", notBare: true, want: committer.ErrNotBareRepository},
		{name: "refuses a plain directory", plainDir: true, want: committer.ErrNotBareRepository},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := gittest.New(t)
			repo := f.Bare
			switch {
			case tt.notBare:
				repo = f.Work
			case tt.plainDir:
				repo = t.TempDir()
			}
			path := filepath.Join(repo, "hooks", "post-receive")
			if tt.existing != "" {
				if err := os.WriteFile(path, []byte(tt.existing), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			err := committer.InstallHook(repo, committer.HookConfig{CommitterPath: "/usr/bin/committer", Force: tt.force})
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			b, readErr := os.ReadFile(path)
			switch {
			case tt.want == nil:
				fi, err := os.Stat(path)
				if err != nil || fi.Mode().Perm() != 0o755 {
					t.Errorf("hook mode %v, %v", fi.Mode(), err)
				}
				if !strings.HasPrefix(string(b), "#!/bin/sh\n") || !strings.Contains(string(b), "exec '/usr/bin/committer' hook\n") {
					t.Errorf("hook:\n%s", b)
				}
			case tt.existing != "" && string(b) != tt.existing:
				t.Errorf("existing hook changed to:\n%s", b)
			case tt.existing == "" && readErr == nil:
				t.Errorf("hook written despite error")
			}
		})
	}
}

// TestInstalledHookRuns runs the written hook: the committer (a script here)
// gets "hook", the arguments unchanged, and the push's stdin.
func TestInstalledHookRuns(t *testing.T) {
	f := gittest.New(t)
	dir := filepath.Join(t.TempDir(), "it's here")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	fake := filepath.Join(dir, "committer $x")
	script := "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done > \"$OUT\"\ncat >> \"$OUT\"\n"
	if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	args := []string{"--repo", "it's a 'repo'", "$HOME `id`", "a\\b"}
	if err := committer.InstallHook(f.Bare, committer.HookConfig{CommitterPath: fake, Args: args}); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(f.Bare, "hooks", "post-receive"))
	cmd.Env = append(os.Environ(), "OUT="+out)
	cmd.Stdin = strings.NewReader("old new refs/heads/main\n")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("hook: %v\n%s", err, b)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	want := "hook\n" + strings.Join(args, "\n") + "\nold new refs/heads/main\n"
	if string(got) != want {
		t.Errorf("committer got:\n%s\nwant:\n%s", got, want)
	}
}
