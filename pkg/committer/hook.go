package committer

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/balcony-dev/balcony/pkg/gitrepo"
)

// Errors of InstallHook.
var (
	// ErrNotBareRepository: InstallHook was given a path that is not a
	// bare repository.
	ErrNotBareRepository = errors.New("not a bare repository")
	// ErrForeignHook: a post-receive hook not written by balcony is in the
	// way.
	ErrForeignHook = errors.New("post-receive hook not installed by balcony")
)

// hookMarker identifies a hook written by InstallHook.
const hookMarker = "# balcony committer hook: written by `committer install-hook`, replaced on reinstall"

// HookConfig says what the post-receive hook runs.
type HookConfig struct {
	// CommitterPath is the committer binary; made absolute.
	CommitterPath string
	// Args follow "hook" on the committer's command line.
	Args []string
	// Force replaces a post-receive hook that balcony did not write.
	Force bool
}

// InstallHook writes <bareRepo>/hooks/post-receive, mode 0755:
//
//	#!/bin/sh
//	exec '<absolute committer path>' hook '<arg>'...
//
// with every word single-quoted for sh. It refuses a path that is not a
// bare repository (ErrNotBareRepository) and a post-receive hook it did
// not write (ErrForeignHook) unless h.Force; its own hook it replaces. The
// file is replaced atomically. core.hooksPath is not consulted.
func InstallHook(bareRepo string, h HookConfig) error {
	if err := installHook(bareRepo, h); err != nil {
		return fmt.Errorf("install hook in %s: %w", bareRepo, err)
	}
	return nil
}

func installHook(bareRepo string, h HookConfig) error {
	if h.CommitterPath == "" {
		return errors.New("no committer path")
	}
	exe, err := filepath.Abs(h.CommitterPath)
	if err != nil {
		return err
	}
	repo, err := gitrepo.Open(bareRepo)
	if errors.Is(err, gitrepo.ErrNotRepository) {
		return ErrNotBareRepository
	}
	if err != nil {
		return err
	}
	defer repo.Close()
	if bare, err := repo.Bare(); err != nil {
		return err
	} else if !bare {
		return ErrNotBareRepository
	}
	hooks := filepath.Join(repo.Path(), "hooks")
	path := filepath.Join(hooks, "post-receive")
	old, err := os.ReadFile(path)
	switch {
	case err == nil && !strings.Contains(string(old), hookMarker) && !h.Force:
		return fmt.Errorf("%s: %w (use force to replace it)", path, ErrForeignHook)
	case err != nil && !os.IsNotExist(err):
		return err
	}
	if err := os.MkdirAll(hooks, 0o755); err != nil {
		return err
	}
	return gitrepo.WriteFileAtomic(path, []byte(hookScript(exe, h.Args)), 0o755)
}

// hookScript is the hook's text.
func hookScript(exe string, args []string) string {
	words := []string{"exec", shQuote(exe), "hook"}
	for _, a := range args {
		words = append(words, shQuote(a))
	}
	return "#!/bin/sh\n" + hookMarker + "\n" + strings.Join(words, " ") + "\n"
}

// shQuote quotes s as one sh word: inside single quotes nothing is special
// but the single quote itself, which closes the quotes, is written escaped
// and reopens them.
func shQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
