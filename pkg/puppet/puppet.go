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
	"strings"
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
	// statedir; /var/lib/puppet/state/agent_catalog_run.lock on Debian).
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

// Args returns the command line of a run of the code in codeDir with its
// scratch directory in scratch. Exposed so that logs and tests can show it.
// It reads codeDir's environment.conf (see Options.Manifest) and fails
// when that cannot be read or parsed.
func (r *Runner) Args(codeDir, scratch string, noop bool) ([]string, error) {
	o := r.opts
	manifest, modulepath, err := r.layout(codeDir)
	if err != nil {
		return nil, err
	}
	args := []string{"apply"}
	if noop {
		args = append(args, "--noop")
	} else {
		args = append(args, "--no-noop")
	}
	args = append(args,
		"--show_diff", "--color=false",
		// Whole-file diffs let the delta rebuild each side of a file, so a
		// file edited twice shows the commit's own step.
		"--diff_args=-U 1000000",
		"--certname", o.Certname,
		"--vardir", filepath.Join(scratch, "var"),
		"--statedir", filepath.Join(scratch, "var", "state"),
		"--lastrunfile", filepath.Join(scratch, "last_run_summary.yaml"),
		"--lastrunreport", filepath.Join(scratch, "last_run_report.yaml"),
		"--catalog_cache_terminus=json",
		"--report", "--reports=none",
		"--no-storeconfigs",
		"--no-usecacheonfailure",
		"--modulepath", modulepath,
	)
	if _, err := os.Stat(filepath.Join(codeDir, "hiera.yaml")); err == nil {
		args = append(args, "--hiera_config", filepath.Join(codeDir, "hiera.yaml"))
	}
	args = append(args, o.Args...)
	return append(args, manifest), nil
}

// Run runs Puppet once on the code in codeDir. A non-zero exit is not an
// error: the caller reads the report and stderr. Errors are for runs that
// could not happen (a malformed environment.conf, see Args) or were cut
// short (ErrTimeout; ctx's error when ctx ended during the run).
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
	scratch, err := os.MkdirTemp(r.opts.ScratchDir, "run-")
	if err != nil {
		return nil, fmt.Errorf("puppet scratch dir: %w", err)
	}
	defer os.RemoveAll(scratch)

	args, err := r.Args(codeDir, scratch, noop)
	if err != nil {
		return nil, err
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, r.opts.Timeout)
	defer cancel()
	name := r.opts.Binary
	if r.opts.Nice {
		if nice, err := exec.LookPath("nice"); err == nil {
			name, args = nice, append([]string{"-n", "10", r.opts.Binary}, args...)
		}
	}
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = codeDir
	cmd.Env = append(os.Environ(), r.opts.Env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// Puppet forks (facter, diff, execs): stop the whole process group.
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	runErr := cmd.Run()
	res := &Result{
		Stdout:   stdout.String(),
		Stderr:   stderr.String(),
		Duration: time.Since(start),
	}
	if ctx.Err() != nil && cmd.Process != nil {
		// Anything of the group that outlived SIGTERM.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	if err := parent.Err(); err != nil {
		// The caller's own end (shutdown, its deadline), not our timeout.
		return res, err
	}
	if ctx.Err() != nil {
		return res, fmt.Errorf("%w after %s", ErrTimeout, r.opts.Timeout)
	}
	var exitErr *exec.ExitError
	switch {
	case errors.As(runErr, &exitErr):
		res.ExitCode = exitErr.ExitCode()
	case runErr != nil:
		return res, fmt.Errorf("run %s: %w", name, runErr)
	}
	if data, err := os.ReadFile(filepath.Join(scratch, "last_run_report.yaml")); err == nil {
		res.ReportYAML = data
	}
	catalog := filepath.Join(scratch, "var", "client_data", "catalog", r.opts.Certname+".json")
	if data, err := os.ReadFile(catalog); err == nil {
		res.CatalogJSON = data
	}
	return res, nil
}

// ErrorLines returns Puppet's "Error: ..." lines from its output, without
// the harmless facter noise some sandboxes produce.
func ErrorLines(output string) []string {
	var errs []string
	for _, line := range strings.Split(output, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "Error: ") || strings.HasPrefix(line, "Error: Facter:") {
			continue
		}
		errs = append(errs, strings.TrimPrefix(line, "Error: "))
	}
	return errs
}
