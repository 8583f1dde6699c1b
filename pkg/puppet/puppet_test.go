package puppet

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// needPuppet skips a test that runs the real Puppet when it is not
// installed, except under CI, where it must be.
func needPuppet(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("puppet"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("puppet is required under CI: %v", err)
		}
		t.Skip("puppet not installed")
	}
}

func newRunner(t *testing.T, o Options) *Runner {
	t.Helper()
	if o.Certname == "" {
		o.Certname = "fozzie.example.com"
	}
	r, err := NewRunner(o)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// writeFile writes content to dir/name, creating directories.
func writeFile(t *testing.T, dir, name, content string, mode os.FileMode) string {
	t.Helper()
	path := filepath.Join(dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	return path
}

// flagValue returns the argument after flag, failing when it is absent.
func flagValue(t *testing.T, args []string, flag string) string {
	t.Helper()
	i := slices.Index(args, flag)
	if i < 0 || i+1 >= len(args) {
		t.Fatalf("%s missing from %q", flag, args)
	}
	return args[i+1]
}

func TestNewRunnerNeedsCertname(t *testing.T) {
	if _, err := NewRunner(Options{}); err == nil {
		t.Fatal("NewRunner without a certname: no error")
	}
}

// Command lines a run can use: a real run, a hooked noop, and the two
// steps of a noop by catalog.
const (
	cmdApply       = "apply"
	cmdNoop        = "noop"
	cmdCompile     = "compile"
	cmdCatalogNoop = "catalog-noop"
)

// commandArgs returns the command line of kind for the code in codeDir.
func commandArgs(r *Runner, kind, codeDir, scratch string) ([]string, error) {
	switch kind {
	case cmdApply:
		return r.ApplyArgs(codeDir, scratch)
	case cmdNoop:
		return r.NoopArgs(codeDir, scratch)
	case cmdCompile:
		return r.CompileArgs(codeDir, scratch)
	default:
		return r.CatalogNoopArgs(codeDir, scratch, filepath.Join(scratch, "catalog.json"))
	}
}

func TestArgs(t *testing.T) {
	withHiera := t.TempDir()
	writeFile(t, withHiera, "hiera.yaml", "---\nversion: 5\n", 0o644)
	without := t.TempDir()
	// A repository laid out by its environment.conf, as Puppet reads it.
	withConf := t.TempDir()
	writeFile(t, withConf, "environment.conf", "manifest = nodes\nmodulepath = site:dist/*:$basemodulepath:/opt/modules\n", 0o644)
	for _, d := range []string{"site", "dist/b", "dist/a"} {
		if err := os.MkdirAll(filepath.Join(withConf, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	scratch := "/scratch/run-1"

	tests := []struct {
		name      string
		opts      Options
		codeDir   string
		cmd       string   // cmdApply, cmdCompile or cmdNoop
		wantHead  []string // the first arguments
		wantFlags []string // present
		notFlags  []string // absent
		hiera     string   // want --hiera_config with this value; "" none
		wantTail  []string // the last arguments (a real run's manifest last)
		// manifest is the --manifest wanted of a compile.
		manifest string
		// modulepath is the --modulepath wanted; default codeDir/modules.
		modulepath string
	}{
		{
			name: "compile", codeDir: without, cmd: cmdCompile,
			wantHead:  []string{"catalog", "compile", "fozzie.example.com"},
			wantFlags: []string{"--render-as", "json", "--color=false", "--no-storeconfigs"},
			notFlags:  []string{"--noop", "--no-noop", "--hiera_config", "--catalog", "apply"},
			manifest:  filepath.Join(without, "manifests"),
		},
		{
			name: "hooked noop", codeDir: without, cmd: cmdNoop,
			wantHead:  []string{"apply", "--noop"},
			wantFlags: []string{"--show_diff", "--catalog_cache_terminus=json", "--report", "--no-storeconfigs"},
			notFlags:  []string{"--no-noop", "--catalog"},
			wantTail:  []string{filepath.Join(without, "manifests")},
		},
		{
			name: "noop applies the forced catalog", codeDir: without, cmd: cmdCatalogNoop,
			wantHead:  []string{"apply", "--noop", "--catalog", filepath.Join(scratch, "catalog.json")},
			wantFlags: []string{"--show_diff", "--color=false", "--report", "--reports=none", "--no-storeconfigs", "--no-usecacheonfailure"},
			notFlags:  []string{"--no-noop", "--hiera_config", filepath.Join(without, "manifests")},
		},
		{
			name: "apply", codeDir: without, cmd: cmdApply,
			wantHead:  []string{"apply", "--no-noop"},
			wantFlags: []string{"--show_diff", "--catalog_cache_terminus=json"},
			notFlags:  []string{"--noop", "--catalog"},
			wantTail:  []string{filepath.Join(without, "manifests")},
		},
		{
			name: "hiera.yaml in the checkout", codeDir: withHiera, cmd: cmdCompile,
			hiera:    filepath.Join(withHiera, "hiera.yaml"),
			manifest: filepath.Join(withHiera, "manifests"),
		},
		{
			name: "hiera.yaml in the checkout, noop", codeDir: withHiera, cmd: cmdNoop,
			hiera: filepath.Join(withHiera, "hiera.yaml"),
		},
		{
			name:    "extra args and manifest file",
			opts:    Options{Args: []string{"--strict=error", "--trace"}, Manifest: "manifests/site.pp", ModulePath: "site:modules"},
			codeDir: without, cmd: cmdApply,
			wantTail:   []string{"--strict=error", "--trace", filepath.Join(without, "manifests", "site.pp")},
			modulepath: filepath.Join(without, "site") + ":" + filepath.Join(without, "modules"),
		},
		{
			name:    "extra args compiling",
			opts:    Options{Args: []string{"--strict=error", "--trace"}, Manifest: "manifests/site.pp"},
			codeDir: without, cmd: cmdCompile,
			wantTail: []string{"--strict=error", "--trace"},
			manifest: filepath.Join(without, "manifests", "site.pp"),
		},
		{
			name:    "extra args applying the catalog",
			opts:    Options{Args: []string{"--strict=error", "--trace"}, ModulePath: "site:modules"},
			codeDir: without, cmd: cmdCatalogNoop,
			wantTail:   []string{"--strict=error", "--trace"},
			modulepath: filepath.Join(without, "site") + ":" + filepath.Join(without, "modules"),
		},
		{
			name: "environment.conf", codeDir: withConf, cmd: cmdApply,
			wantTail: []string{filepath.Join(withConf, "nodes")},
			modulepath: strings.Join([]string{
				filepath.Join(withConf, "site"), filepath.Join(withConf, "dist", "a"), filepath.Join(withConf, "dist", "b"),
				"$basemodulepath", "/opt/modules",
			}, ":"),
		},
		{
			name: "environment.conf compiling", codeDir: withConf, cmd: cmdCompile,
			manifest: filepath.Join(withConf, "nodes"),
			modulepath: strings.Join([]string{
				filepath.Join(withConf, "site"), filepath.Join(withConf, "dist", "a"), filepath.Join(withConf, "dist", "b"),
				"$basemodulepath", "/opt/modules",
			}, ":"),
		},
		{
			name: "flags override environment.conf", codeDir: withConf, cmd: cmdCompile,
			opts:       Options{Manifest: "manifests/site.pp", ModulePath: "modules"},
			manifest:   filepath.Join(withConf, "manifests", "site.pp"),
			modulepath: filepath.Join(withConf, "modules"),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRunner(t, tc.opts)
			args, err := commandArgs(r, tc.cmd, tc.codeDir, scratch)
			if err != nil {
				t.Fatalf("args: %v", err)
			}
			if head := args[:min(len(tc.wantHead), len(args))]; !slices.Equal(head, tc.wantHead) {
				t.Errorf("args start %q, want %q", head, tc.wantHead)
			}
			for _, f := range tc.wantFlags {
				if !slices.Contains(args, f) {
					t.Errorf("%s missing from %q", f, args)
				}
			}
			for _, f := range tc.notFlags {
				if slices.Contains(args, f) {
					t.Errorf("%s present in %q", f, args)
				}
			}
			if tc.hiera != "" {
				if got := flagValue(t, args, "--hiera_config"); got != tc.hiera {
					t.Errorf("--hiera_config %q, want %q", got, tc.hiera)
				}
			} else if slices.Contains(args, "--hiera_config") {
				t.Errorf("--hiera_config without a hiera.yaml: %q", args)
			}
			if tail := args[len(args)-len(tc.wantTail):]; !slices.Equal(tail, tc.wantTail) {
				t.Errorf("args end %q, want %q", tail, tc.wantTail)
			}
			if tc.manifest != "" {
				if got := flagValue(t, args, "--manifest"); got != tc.manifest {
					t.Errorf("--manifest %q, want %q", got, tc.manifest)
				}
			} else if slices.Contains(args, "--manifest") {
				t.Errorf("--manifest given to %s: %q", tc.cmd, args)
			}
			// The run's state stays in its scratch directory.
			want := map[string]string{
				"--certname":  "fozzie.example.com",
				"--vardir":    filepath.Join(scratch, "var"),
				"--statedir":  filepath.Join(scratch, "var", "state"),
				"--publicdir": filepath.Join(scratch, "public"),
			}
			if tc.cmd != cmdCompile {
				want["--lastrunfile"] = filepath.Join(scratch, "last_run_summary.yaml")
				want["--lastrunreport"] = filepath.Join(scratch, "last_run_report.yaml")
			}
			for flag, want := range want {
				if got := flagValue(t, args, flag); got != want {
					t.Errorf("%s %q, want %q", flag, got, want)
				}
			}
			wantMod := filepath.Join(tc.codeDir, "modules")
			if tc.modulepath != "" {
				wantMod = tc.modulepath
			}
			if got := flagValue(t, args, "--modulepath"); got != wantMod {
				t.Errorf("--modulepath %q, want %q", got, wantMod)
			}
		})
	}
}

func TestErrorLines(t *testing.T) {
	out := "Notice: Compiled\n" +
		"Error: Facter: error while resolving custom facts: Permission denied /proc/1/environ\n" +
		"  Error: Could not parse for environment production: Syntax error at '}' (file: /x/site.pp, line: 1, column: 9) on node a\n" +
		"Warning: deprecated\n"
	got := ErrorLines(out)
	want := []string{"Could not parse for environment production: Syntax error at '}' (file: /x/site.pp, line: 1, column: 9) on node a"}
	if !slices.Equal(got, want) {
		t.Errorf("ErrorLines = %q, want %q", got, want)
	}
}

func TestRunNoopLeavesNoTrace(t *testing.T) {
	needPuppet(t)
	code, target, scratch := t.TempDir(), t.TempDir(), t.TempDir()
	motd := filepath.Join(target, "etc", "motd")
	writeFile(t, code, "manifests/site.pp",
		"node default {\n  file { '"+motd+"': content => \"hello\\n\" }\n}\n", 0o644)
	r := newRunner(t, Options{ScratchDir: scratch, Timeout: 2 * time.Minute})

	res, err := r.Run(t.Context(), code, true)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if len(res.ReportYAML) == 0 {
		t.Fatalf("no report; exit %d, stderr:\n%s", res.ExitCode, res.Stderr)
	}
	if !strings.Contains(string(res.ReportYAML), "File["+motd+"]") {
		t.Errorf("report does not mention File[%s]", motd)
	}
	if res.Duration <= 0 {
		t.Errorf("Duration = %v", res.Duration)
	}
	if _, err := os.Lstat(filepath.Join(target, "etc")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("noop created %s (stat: %v)", filepath.Join(target, "etc"), err)
	}
	if left, _ := os.ReadDir(scratch); len(left) != 0 {
		t.Errorf("scratch dir not removed: %v", left)
	}
}

func TestRunSyntaxError(t *testing.T) {
	needPuppet(t)
	code, scratch := t.TempDir(), t.TempDir()
	writeFile(t, code, "manifests/site.pp", "node default {\n  file { '/tmp/x': ensure => }\n}\n", 0o644)
	r := newRunner(t, Options{ScratchDir: scratch, Timeout: 2 * time.Minute})

	res, err := r.Run(t.Context(), code, true)
	if err != nil {
		t.Fatalf("Run: %v (a compile error is a result, not an error)", err)
	}
	if len(res.ReportYAML) != 0 {
		t.Errorf("a run that did not compile has a report of %d bytes", len(res.ReportYAML))
	}
	if res.ExitCode == 0 {
		t.Errorf("exit code 0 for a syntax error")
	}
	errs := ErrorLines(res.Stderr)
	if !slices.ContainsFunc(errs, func(s string) bool { return strings.Contains(s, "Syntax error") }) {
		t.Errorf("no syntax error in %q; stderr:\n%s", errs, res.Stderr)
	}
	for _, e := range errs {
		if strings.HasPrefix(e, "Facter:") {
			t.Errorf("Facter noise kept: %q", e)
		}
	}
	if left, _ := os.ReadDir(scratch); len(left) != 0 {
		t.Errorf("scratch dir not removed: %v", left)
	}
}

func TestRunTimeout(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "pid")
	// The script records its pid, which exec keeps for sleep. The
	// timeout leaves a loaded machine ample time to start the script
	// and write its pid, and is far shorter than the sleep.
	bin := writeFile(t, dir, "puppet", "#!/bin/sh\necho $$ > '"+pidFile+"'\nexec sleep 600\n", 0o755)
	r := newRunner(t, Options{Binary: bin, Timeout: 3 * time.Second, ScratchDir: t.TempDir()})

	start := time.Now()
	_, err := r.Run(t.Context(), t.TempDir(), true)
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("Run = %v, want ErrTimeout", err)
	}
	// Not a timing margin: Run gave up instead of waiting for the sleep.
	if took := time.Since(start); took >= 600*time.Second {
		t.Errorf("Run took %v: it waited for Puppet instead of its timeout", took)
	}
	data, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("the script never ran: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		t.Fatal(err)
	}
	// Run reaped its child (the group leader) before returning: nothing
	// of the group is left, not even a zombie.
	if err := syscall.Kill(-pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("process group %d still there after Run returned (kill: %v)", pid, err)
	}
}

func TestArgsMalformedEnvironmentConf(t *testing.T) {
	for name, conf := range map[string]string{
		"a line Puppet cannot parse": "manifest = nodes\nthis is not a setting\n",
		"a manifest from a setting":  "manifest = $codedir/manifests\n",
	} {
		t.Run(name, func(t *testing.T) {
			code := t.TempDir()
			writeFile(t, code, "environment.conf", conf, 0o644)
			r := newRunner(t, Options{})
			for _, kind := range []string{cmdApply, cmdCompile, cmdNoop} {
				args, err := commandArgs(r, kind, code, "/scratch/run-1")
				if err == nil || !strings.Contains(err.Error(), "manifest") && !strings.Contains(err.Error(), "environment.conf") {
					t.Fatalf("%s args = %q, %v; want an error naming environment.conf or the manifest", kind, args, err)
				}
			}
			// Run refuses it before starting Puppet.
			if _, err := r.Run(t.Context(), code, true); err == nil {
				t.Error("Run with a malformed environment.conf: no error")
			}
		})
	}
}

// TestRunEnvironmentConf runs the code of a repository whose
// environment.conf puts the node files in nodes/ and the modules in
// site/: Puppet must see both, as it would serving that environment.
func TestRunEnvironmentConf(t *testing.T) {
	needPuppet(t)
	code, target, scratch := t.TempDir(), t.TempDir(), t.TempDir()
	motd := filepath.Join(target, "etc", "motd")
	writeFile(t, code, "environment.conf", "# our layout\nmanifest = nodes\nmodulepath = site:$basemodulepath\n", 0o644)
	writeFile(t, code, "nodes/fozzie.pp", "node 'fozzie.example.com' {\n  include motd\n}\n", 0o644)
	writeFile(t, code, "site/motd/manifests/init.pp",
		"class motd {\n  file { '"+motd+"': content => \"hello\\n\" }\n}\n", 0o644)
	r := newRunner(t, Options{ScratchDir: scratch, Timeout: 2 * time.Minute})

	res, err := r.Run(t.Context(), code, true)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if len(res.ReportYAML) == 0 {
		t.Fatalf("no report; exit %d, stderr:\n%s", res.ExitCode, res.Stderr)
	}
	if !strings.Contains(string(res.ReportYAML), "File["+motd+"]") {
		t.Errorf("report does not mention File[%s] of the module in site/; stderr:\n%s", motd, res.Stderr)
	}
}
