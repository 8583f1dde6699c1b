package puppet

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/balcony-dev/balcony/pkg/puppet/envconf"
)

// layout returns the main manifest and the modulepath (colon-separated)
// that Puppet is given for the code in codeDir, resolved as Puppet
// resolves an environment's: Options.Manifest and Options.ModulePath when
// set, else the checkout's environment.conf, else Puppet's defaults
// (manifests, modules). Relative paths are inside the checkout; absolute
// ones and $settings ($basemodulepath) in the modulepath are passed on,
// for Puppet to interpolate; globs are expanded, as Puppet expands them.
// A malformed environment.conf is an error, as it is for Puppet.
func (r *Runner) layout(codeDir string) (manifest, modulepath string, err error) {
	conf, err := readConf(codeDir)
	if err != nil {
		return "", "", err
	}
	manifest, _ = conf.Manifest()
	if r.opts.Manifest != "" {
		manifest = r.opts.Manifest
	}
	if strings.HasPrefix(manifest, "$") {
		// Puppet interpolates it from its own settings, which balcony
		// does not read: the manifest of a review must be the code's.
		return "", "", fmt.Errorf("manifest %q names a Puppet setting: balcony runs a manifest of the checkout or an absolute path", manifest)
	}
	entries, _ := conf.ModulePath()
	if r.opts.ModulePath != "" {
		entries = strings.Split(r.opts.ModulePath, ":")
	}
	var dirs []string
	for _, e := range entries {
		if e == "" {
			continue
		}
		p := envconf.Resolve(codeDir, e)
		if !envconf.IsGlob(e) || strings.HasPrefix(p, "$") {
			dirs = append(dirs, p)
			continue
		}
		// Go's globs have no {a,b}; Puppet refuses braces in a setting's
		// value anyway (it takes them for file metadata).
		matches, err := filepath.Glob(p)
		if err != nil {
			return "", "", fmt.Errorf("modulepath entry %q: %w", e, err)
		}
		dirs = append(dirs, matches...)
	}
	return envconf.Resolve(codeDir, manifest), strings.Join(dirs, ":"), nil
}

// readConf reads codeDir's environment.conf; a missing one is Puppet's
// defaults.
func readConf(codeDir string) (envconf.Conf, error) {
	data, err := os.ReadFile(filepath.Join(codeDir, envconf.FileName))
	if errors.Is(err, fs.ErrNotExist) {
		return envconf.Conf{}, nil
	}
	if err != nil {
		return envconf.Conf{}, fmt.Errorf("read %s: %w", envconf.FileName, err)
	}
	conf, err := envconf.Parse(data)
	if err != nil {
		return envconf.Conf{}, fmt.Errorf("%s: %w", envconf.FileName, err)
	}
	return conf, nil
}
