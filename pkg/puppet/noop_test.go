package puppet

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestForceNoop(t *testing.T) {
	tests := []struct {
		name    string
		catalog string
		// want is the catalog's resources after forcing, as JSON.
		want    string
		wantErr string
	}{
		{
			name:    "noop => false is overridden",
			catalog: `{"resources":[{"type":"File","title":"/a","parameters":{"content":"x","noop":false}}]}`,
			want:    `[{"parameters":{"content":"x","noop":true},"title":"/a","type":"File"}]`,
		},
		{
			name:    "noop => 'false', a string Puppet also takes",
			catalog: `{"resources":[{"type":"Exec","title":"boom","parameters":{"noop":"false"}}]}`,
			want:    `[{"parameters":{"noop":true},"title":"boom","type":"Exec"}]`,
		},
		{
			name:    "resources without parameters get them",
			catalog: `{"resources":[{"type":"Class","title":"Settings"},{"type":"Node","title":"default","parameters":null}]}`,
			want:    `[{"parameters":{"noop":true},"title":"Settings","type":"Class"},{"parameters":{"noop":true},"title":"default","type":"Node"}]`,
		},
		{
			name:    "numbers and markup kept exactly",
			catalog: `{"version":1796084371,"resources":[{"type":"File","title":"/a<b>&","line":3,"parameters":{"mode":"0644","n":12345678901234567890,"f":0.1}}]}`,
			want:    `[{"line":3,"parameters":{"f":0.1,"mode":"0644","n":12345678901234567890,"noop":true},"title":"/a<b>&","type":"File"}]`,
		},
		{name: "not JSON", catalog: `Notice: Compiled`, wantErr: "parse catalog"},
		{name: "no resources", catalog: `{"name":"x"}`, wantErr: "no resources"},
		{name: "a resource that is not an object", catalog: `{"resources":[1]}`, wantErr: "resource 0"},
		{name: "parameters that are not an object", catalog: `{"resources":[{"type":"File","title":"/a","parameters":[1]}]}`, wantErr: "File[/a]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ForceNoop([]byte(tc.catalog))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ForceNoop = %s, %v; want an error with %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ForceNoop: %v", err)
			}
			var cat map[string]json.RawMessage
			if err := json.Unmarshal(got, &cat); err != nil {
				t.Fatalf("forced catalog %s: %v", got, err)
			}
			if res := string(cat["resources"]); res != tc.want {
				t.Errorf("resources\n got %s\nwant %s", res, tc.want)
			}
			if strings.Contains(tc.catalog, "version") && string(cat["version"]) != "1796084371" {
				t.Errorf("version %s, want 1796084371", cat["version"])
			}
		})
	}
}

// TestRunNoopForcesNoop: resources that ask for noop => false, a file and
// an exec, change nothing in a noop, whichever guard forces it; the report
// shows the file as a noop event, and the catalog Run returns is Puppet's
// own, noop => false kept.
func TestRunNoopForcesNoop(t *testing.T) {
	needPuppet(t)
	for _, tc := range []struct {
		name  string
		guard noopGuard // guardUnknown: the probe decides
		want  noopGuard
	}{
		{name: "probed: the hook", guard: guardUnknown, want: guardHook},
		{name: "by catalog", guard: guardCatalog, want: guardCatalog},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, target, scratch := t.TempDir(), t.TempDir(), t.TempDir()
			forced := filepath.Join(target, "forced")
			ran := filepath.Join(target, "exec-ran")
			kept := filepath.Join(target, "kept")
			writeFile(t, kept, "", "before\n", 0o644)
			writeFile(t, code, "manifests/site.pp", `node default {
  file { '`+forced+`': content => "forced\n", noop => false }
  file { '`+kept+`': content => "after\n", noop => false }
  exec { 'touch': command => '/usr/bin/touch `+ran+`', noop => false }
}
`, 0o644)
			r := newRunner(t, Options{ScratchDir: scratch, Timeout: 5 * time.Minute})
			r.guard = tc.guard

			res, err := r.Run(t.Context(), code, true)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if r.guard != tc.want {
				t.Errorf("guard %d, want %d", r.guard, tc.want)
			}
			if len(res.ReportYAML) == 0 {
				t.Fatalf("no report; exit %d, stderr:\n%s", res.ExitCode, res.Stderr)
			}
			for _, p := range []string{forced, ran} {
				if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("the noop created %s (stat: %v)", p, err)
				}
			}
			if data, err := os.ReadFile(kept); err != nil || string(data) != "before\n" {
				t.Errorf("the noop changed %s: %q, %v", kept, data, err)
			}
			report := string(res.ReportYAML)
			for _, want := range []string{"File[" + forced + "]", "File[" + kept + "]", "Exec[touch]", "status: noop"} {
				if !strings.Contains(report, want) {
					t.Errorf("report does not mention %s", want)
				}
			}
			if strings.Contains(report, "status: success") {
				t.Errorf("report has an event that happened:\n%s", report)
			}
			if !strings.Contains(string(res.CatalogJSON), `"noop":false`) {
				t.Errorf("CatalogJSON is not the compiled catalog with its noop => false:\n%s", res.CatalogJSON)
			}
			if left, _ := os.ReadDir(scratch); len(left) != 0 {
				t.Errorf("scratch dir not removed: %v", left)
			}
		})
	}
}

// TestPuppetIgnoringRUBYOPT: behind a wrapper that unsets RUBYOPT, as the
// one of Puppet's own packages does, the probe chooses the noop by
// catalog; and a hooked noop that ran without its hook anyway is refused
// rather than passed off as forced.
func TestPuppetIgnoringRUBYOPT(t *testing.T) {
	needPuppet(t)
	puppet, err := exec.LookPath("puppet")
	if err != nil {
		t.Fatal(err)
	}
	wrapper := filepath.Join(t.TempDir(), "puppet")
	writeFile(t, wrapper, "", "#!/bin/sh\nunset RUBYOPT\nexec "+puppet+" \"$@\"\n", 0o755)
	code := t.TempDir()
	writeFile(t, code, "manifests/site.pp", "node default { notify { 'hello': } }\n", 0o644)

	r := newRunner(t, Options{Binary: wrapper, ScratchDir: t.TempDir(), Timeout: 5 * time.Minute})
	if res, err := r.Run(t.Context(), code, true); err != nil || len(res.ReportYAML) == 0 {
		t.Fatalf("Run = %+v, %v; want a report", res, err)
	}
	if r.guard != guardCatalog {
		t.Errorf("guard %d, want the noop by catalog (%d)", r.guard, guardCatalog)
	}

	r = newRunner(t, Options{Binary: wrapper, ScratchDir: t.TempDir(), Timeout: 5 * time.Minute})
	r.guard = guardHook
	if res, err := r.Run(t.Context(), code, true); !errors.Is(err, ErrNoopNotForced) {
		t.Fatalf("Run = %+v, %v; want ErrNoopNotForced", res, err)
	}
}
