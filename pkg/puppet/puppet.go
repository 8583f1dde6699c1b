// Package puppet runs `puppet apply` on a code checkout, never through a
// shell, in a scratch directory of its own so that a noop leaves no trace
// on the host: its own vardir, statedir, last-run files and report, no
// report submitted anywhere, storeconfigs off.
package puppet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ErrTimeout is wrapped when Puppet ran past its timeout and was killed.
var ErrTimeout = errors.New("puppet timed out")

// Options configures every run. The zero value plus Certname works: the
// defaults are filled in by the Runner.
type Options struct {
	// Binary is the puppet executable; default "puppet".
	Binary string
	// Certname selects the node definition; normally the host name.
	Certname string
	// Args are extra arguments appended to every run (for instance
	// --hiera_config or --modulepath).
	Args []string
	// Env is extra environment, such as FACTER_<name>=value facts.
	Env []string
	// Timeout bounds one run; default 10 minutes.
	Timeout time.Duration
	// Nice runs Puppet under nice(1) when it is installed.
	Nice bool
	// ScratchDir holds each run's own vardir; default os.TempDir().
	ScratchDir string
	// ModulePath is the module directories, colon-separated, each
	// relative to the checkout (or absolute, or a $setting such as
	// $basemodulepath). Empty: the checkout's environment.conf says, else
	// Puppet's default "modules". Set, it overrides environment.conf.
	ModulePath string
	// Manifest is the main manifest, a file or a directory, relative to
	// the checkout (or absolute). Empty: the checkout's environment.conf
	// says, else Puppet's default "manifests". Set, it overrides
	// environment.conf.
	Manifest string
	// LockFile is the puppet agent's run lock, holding the pid of the
	// agent while it runs (agent_catalog_run.lock in the real agent's
	// statedir; /var/cache/puppet/state/agent_catalog_run.lock on Debian,
	// as `puppet config print agent_catalog_run_lockfile` says).
	// Run waits while it names a live process. Empty: no check.
	LockFile string
	// LockPoll is how often Run checks the lock while it is held;
	// default 1s.
	LockPoll time.Duration
}

// Result is what one run left behind.
type Result struct {
	// ReportYAML is Puppet's report; empty when Puppet wrote none (it
	// writes none when the catalog fails to compile).
	ReportYAML []byte
	// CatalogJSON is the compiled catalog, which holds the content of
	// files the run would create (a noop's report shows none).
	CatalogJSON []byte
	Stdout      string
	Stderr      string
	ExitCode    int
	Duration    time.Duration
}

// Runner runs Puppet. It is safe for concurrent use, though callers run
// one Puppet at a time per host.
type Runner struct {
	opts Options
	// guard is how noops are forced, found by the first noop (guard.go);
	// guardMu serializes that probe.
	guardMu sync.Mutex
	guard   noopGuard
	// lockWaitHook, when set (by tests), is called each time Run finds
	// the lock held, before it waits LockPoll.
	lockWaitHook func()
}

// NewRunner fills in defaults and checks the options.
func NewRunner(o Options) (*Runner, error) {
	if o.Certname == "" {
		return nil, errors.New("puppet: a certname is required")
	}
	if o.Binary == "" {
		o.Binary = "puppet"
	}
	if o.Timeout == 0 {
		o.Timeout = 10 * time.Minute
	}
	if o.ScratchDir == "" {
		o.ScratchDir = os.TempDir()
	}
	if o.LockPoll <= 0 {
		o.LockPoll = time.Second
	}
	return &Runner{opts: o}, nil
}

// ApplyArgs returns the command line of a real run (--no-noop) of the code
// in codeDir with its scratch directory in scratch. Exposed so that logs
// and tests can show it. It reads codeDir's environment.conf (see
// Options.Manifest) and fails when that cannot be read or parsed.
func (r *Runner) ApplyArgs(codeDir, scratch string) ([]string, error) {
	manifest, modulepath, err := r.layout(codeDir)
	if err != nil {
		return nil, err
	}
	args := append([]string{"apply", "--no-noop"}, r.runFlags(scratch)...)
	args = append(args, "--catalog_cache_terminus=json")
	args = append(args, r.codeFlags(codeDir, modulepath)...)
	return append(args, manifest), nil
}

// runFlags are the flags of a `puppet apply` that applies a catalog: the
// run's state and report stay in its scratch directory.
func (r *Runner) runFlags(scratch string) []string {
	return []string{
		"--show_diff", "--color=false",
		// Whole-file diffs let the delta rebuild each side of a file, so a
		// file edited twice shows the commit's own step.
		"--diff_args=-U 1000000",
		"--certname", r.opts.Certname,
		"--vardir", filepath.Join(scratch, "var"),
		"--statedir", filepath.Join(scratch, "var", "state"),
		// Debian's Puppet also copies the summary to a world-readable
		// publicdir (/var/cache/puppet/public) unless told otherwise.
		"--publicdir", filepath.Join(scratch, "public"),
		"--lastrunfile", filepath.Join(scratch, "last_run_summary.yaml"),
		"--lastrunreport", filepath.Join(scratch, "last_run_report.yaml"),
		"--report", "--reports=none",
		"--no-storeconfigs",
		"--no-usecacheonfailure",
	}
}

// codeFlags are the flags that find the code: the modulepath (also where
// apply finds puppet:///modules/ sources), hiera.yaml, Options.Args.
func (r *Runner) codeFlags(codeDir, modulepath string) []string {
	args := []string{"--modulepath", modulepath}
	if _, err := os.Stat(filepath.Join(codeDir, "hiera.yaml")); err == nil {
		args = append(args, "--hiera_config", filepath.Join(codeDir, "hiera.yaml"))
	}
	return append(args, r.opts.Args...)
}

// Run runs Puppet once on the code in codeDir: a noop (the catalog is
// compiled, every resource forced to noop, then applied with --noop; see
// CompileArgs) or a real run (ApplyArgs). A non-zero exit is not an
// error: the caller reads the report and stderr. Errors are for runs that
// could not happen (a malformed environment.conf, see ApplyArgs; a
// process group that could not be recorded, see Recover) or
// were cut short (ErrTimeout; ctx's error when ctx ended during the run).
//
// With a LockFile, Run first blocks while the puppet agent holds its run
// lock, for as long as ctx allows (Timeout bounds Puppet's run only, not
// this wait); when ctx ends first it returns a nil Result and an error
// wrapping both ErrLocked and ctx's error.
func (r *Runner) Run(ctx context.Context, codeDir string, noop bool) (*Result, error) {
	if err := r.waitLock(ctx); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(r.opts.ScratchDir, 0o750); err != nil {
		return nil, fmt.Errorf("puppet scratch dir: %w", err)
	}
	scratch, err := os.MkdirTemp(r.opts.ScratchDir, scratchPrefix)
	if err != nil {
		return nil, fmt.Errorf("puppet scratch dir: %w", err)
	}
	// The scratch holds the compiled catalog, secrets included: it never
	// outlives the run (Recover removes those of an agent killed mid-run).
	defer os.RemoveAll(scratch)

	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, r.opts.Timeout)
	defer cancel()
	start := time.Now()
	run := r.apply
	if noop {
		run = r.noop
	}
	res, err := run(ctx, codeDir, scratch)
	if res == nil {
		// Puppet never started (a malformed environment.conf).
		return nil, err
	}
	res.Duration = time.Since(start)
	if err := parent.Err(); err != nil {
		// The caller's own end (shutdown, its deadline), not our timeout.
		return res, err
	}
	if ctx.Err() != nil {
		return res, fmt.Errorf("%w after %s", ErrTimeout, r.opts.Timeout)
	}
	if err != nil {
		return res, err
	}
	if data, err := os.ReadFile(filepath.Join(scratch, "last_run_report.yaml")); err == nil {
		res.ReportYAML = data
	}
	return res, nil
}

// apply is a real run: `puppet apply --no-noop` compiles and applies.
func (r *Runner) apply(ctx context.Context, codeDir, scratch string) (*Result, error) {
	args, err := r.ApplyArgs(codeDir, scratch)
	if err != nil {
		return nil, err
	}
	out, err := r.command(ctx, codeDir, scratch, args)
	res := &Result{Stdout: out.stdout, Stderr: out.stderr, ExitCode: out.exitCode}
	if err != nil {
		return res, err
	}
	res.CatalogJSON = r.cachedCatalog(scratch)
	return res, nil
}

// cachedCatalog is the catalog `puppet apply` compiled, as its
// catalog_cache_terminus=json left it in the run's vardir; nil when it
// wrote none (the catalog did not compile).
func (r *Runner) cachedCatalog(scratch string) []byte {
	data, err := os.ReadFile(filepath.Join(scratch, "var", "client_data", "catalog", r.opts.Certname+".json"))
	if err != nil {
		return nil
	}
	return data
}

// output is what one Puppet process left.
type output struct {
	stdout, stderr string
	exitCode       int
}

// command runs one Puppet process in its own process group, recorded in
// the scratch directory while it runs (see Recover). A non-zero exit is not an error; when
// ctx ends the whole group is stopped (SIGTERM, then SIGKILL).
func (r *Runner) command(ctx context.Context, codeDir, scratch string, args []string, env ...string) (output, error) {
	name := r.opts.Binary
	if r.opts.Nice {
		if nice, err := exec.LookPath("nice"); err == nil {
			name, args = nice, append([]string{"-n", "10", r.opts.Binary}, args...)
		}
	}
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = codeDir
	cmd.Env = append(append(append(os.Environ(), r.opts.Env...), env...), RunEnv+"="+scratch)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setpgid: true,
		// Puppet itself stops when the agent dies, even by kill -9; what
		// it started is ended by the next agent (Recover).
		Pdeathsig: syscall.SIGTERM,
	}
	// Puppet forks (facter, diff, execs): stop the whole process group.
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := startAndWait(cmd, scratch)
	out := output{stdout: stdout.String(), stderr: stderr.String()}
	if ctx.Err() != nil && cmd.Process != nil {
		// Anything of the group that outlived SIGTERM, and what Puppet
		// started outside it.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		killMarked(scratch)
	}
	if ctx.Err() != nil {
		return out, ctx.Err()
	}
	var exitErr *exec.ExitError
	switch {
	case errors.As(runErr, &exitErr):
		out.exitCode = exitErr.ExitCode()
	case runErr != nil:
		return out, fmt.Errorf("run %s: %w", name, runErr)
	}
	return out, nil
}

// ErrorLines returns Puppet's "Error: ..." lines from its output, each
// once, without the harmless facter noise some sandboxes produce and
// without what `puppet catalog compile` adds to a compile error (the same
// error again, prefixed, and a hint at its help).
func ErrorLines(output string) []string {
	var errs []string
	for _, line := range strings.Split(output, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "Error: ") || strings.HasPrefix(line, "Error: Facter:") ||
			strings.HasPrefix(line, "Error: Try 'puppet help") {
			continue
		}
		line = strings.TrimPrefix(line, "Error: ")
		line = strings.TrimPrefix(line, "Could not call 'find' on 'catalog': ")
		if !slices.Contains(errs, line) {
			errs = append(errs, line)
		}
	}
	return errs
}
