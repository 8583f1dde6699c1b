package puppet

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// A noop must never change the host, yet `noop => false` on a resource
// beats `puppet apply --noop`. Every resource of the catalog is therefore
// forced to noop before Puppet applies it, in one of two ways:
//
//   - the hook (the default): one `puppet apply --noop` that loads
//     balcony_force_noop.rb through RUBYOPT; the script sets noop on every
//     resource of the compiled catalog just before the apply and leaves a
//     marker saying it did. One Puppet process: a small catalog took 4.4 s
//     here where the two processes below took 7.5 s.
//   - by catalog (noop.go): `puppet catalog compile`, noop set in the JSON
//     catalog, `puppet apply --catalog --noop`. It needs nothing of Ruby,
//     for a Puppet that ignores RUBYOPT (the wrapper of Puppet's own
//     packages unsets it).
//
// The first noop of a Runner probes, with `puppet --version`, whether the
// hook loads; only then are noops run through it. A hooked run that ends
// without the marker is refused, so a guard that stopped loading fails
// the run instead of passing unforced.
//
// Code of the repository still runs on the host while compiling (custom
// facts and functions, generate(), file()) and while applying (an exec's
// unless and onlyif checks, providers' queries), as in any Puppet run: see
// docs/security.md.

//go:embed balcony_force_noop.rb
var guardScript []byte

type noopGuard int

const (
	guardUnknown noopGuard = iota
	guardHook
	guardCatalog
)

// Files of the hook in a run's scratch directory.
const (
	guardLib    = "ruby"         // RUBYLIB entry holding the script
	guardMarker = "forced-noop"  // written by the script before the apply
	guardProbe  = "guard-loaded" // written by the script when probed
)

// ErrNoopNotForced is returned when a hooked noop ran without the hook.
var ErrNoopNotForced = errors.New("puppet ran without balcony's noop guard")

// noop runs a noop with the guard this Puppet takes.
func (r *Runner) noop(ctx context.Context, codeDir, scratch string) (*Result, error) {
	guard, err := r.noopGuard(ctx, scratch)
	if err != nil {
		return &Result{}, err
	}
	if guard == guardCatalog {
		return r.noopByCatalog(ctx, codeDir, scratch)
	}
	return r.noopByHook(ctx, codeDir, scratch)
}

// noopGuard finds, once, whether the hook loads into this Puppet. The
// probe runs under guardMu: runs of one Runner wait for it, which is what
// they must do anyway.
func (r *Runner) noopGuard(ctx context.Context, scratch string) (noopGuard, error) {
	r.guardMu.Lock()
	defer r.guardMu.Unlock()
	if r.guard != guardUnknown {
		return r.guard, nil
	}
	probe := filepath.Join(scratch, guardProbe)
	env, err := guardEnv(scratch, "BALCONY_FORCE_NOOP_PROBE="+probe)
	if err != nil {
		return guardUnknown, err
	}
	out, err := r.command(ctx, scratch, scratch, []string{"--version"}, env...)
	if err != nil {
		return guardUnknown, fmt.Errorf("probe puppet for the noop guard: %w", err)
	}
	if out.exitCode != 0 {
		return guardUnknown, fmt.Errorf("probe puppet for the noop guard: `puppet --version` exited %d: %s", out.exitCode, strings.TrimSpace(out.stderr))
	}
	r.guard = guardCatalog
	if _, err := os.Stat(probe); err == nil {
		r.guard = guardHook
	}
	return r.guard, nil
}

// guardEnv writes the hook into scratch and returns the environment that
// loads it, plus extra.
func guardEnv(scratch string, extra ...string) ([]string, error) {
	lib := filepath.Join(scratch, guardLib)
	if err := os.MkdirAll(lib, 0o700); err != nil {
		return nil, fmt.Errorf("noop guard: %w", err)
	}
	if err := os.WriteFile(filepath.Join(lib, "balcony_force_noop.rb"), guardScript, 0o600); err != nil {
		return nil, fmt.Errorf("noop guard: %w", err)
	}
	rubylib := lib
	if prev := os.Getenv("RUBYLIB"); prev != "" {
		rubylib += string(os.PathListSeparator) + prev
	}
	return append([]string{"RUBYLIB=" + rubylib, "RUBYOPT=-rbalcony_force_noop"}, extra...), nil
}

// NoopArgs returns the command line of a hooked noop: `puppet apply
// --noop` of the code in codeDir, as ApplyArgs otherwise.
func (r *Runner) NoopArgs(codeDir, scratch string) ([]string, error) {
	args, err := r.ApplyArgs(codeDir, scratch)
	if err != nil {
		return nil, err
	}
	args[1] = "--noop" // ApplyArgs starts with apply --no-noop
	return args, nil
}

// noopByHook is one `puppet apply --noop` with the hook loaded.
func (r *Runner) noopByHook(ctx context.Context, codeDir, scratch string) (*Result, error) {
	args, err := r.NoopArgs(codeDir, scratch)
	if err != nil {
		return nil, err
	}
	marker := filepath.Join(scratch, guardMarker)
	env, err := guardEnv(scratch, "BALCONY_FORCE_NOOP="+marker)
	if err != nil {
		return nil, err
	}
	out, err := r.command(ctx, codeDir, scratch, args, env...)
	res := &Result{Stdout: out.stdout, Stderr: out.stderr, ExitCode: out.exitCode}
	if err != nil {
		return res, err
	}
	res.CatalogJSON = r.cachedCatalog(scratch)
	if _, err := os.Stat(marker); err != nil && out.exitCode == 0 {
		// Puppet applied a catalog (exit 0) that the hook never saw. A
		// compile error exits non-zero before any apply: no marker then.
		return res, ErrNoopNotForced
	}
	return res, nil
}
