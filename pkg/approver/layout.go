package approver

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/balcony-dev/balcony/pkg/gitrepo"
	"github.com/balcony-dev/balcony/pkg/protocol"
	"github.com/balcony-dev/balcony/pkg/puppet/envconf"
)

// maxLayouts bounds the layouts remembered; past it they are forgotten
// at once and read again (and their warnings logged again) when needed.
const maxLayouts = 1024

// layout is where a revision keeps its node files and its modules, as
// Puppet would find them there.
type layout struct {
	// manifestDirs are the main manifest, a directory or a file, relative
	// to the repository; empty when it is outside the repository.
	manifestDirs []string
	// moduleDirs are the modulepath's directories inside the repository.
	moduleDirs []string
	// from says where manifestDirs come from, for the warnings.
	from string
	// warnings are what a reviewer should know about this layout.
	warnings []string
	// warnedNoNodes is set once the absence of node statements has been
	// logged for this revision (under Approver.cacheMu).
	warnedNoNodes bool
}

// layoutAt returns the layout of rev, reading its environment.conf once
// per revision: the config's manifest_dirs and module_dirs when set, else
// environment.conf's manifest and modulepath, else Puppet's defaults
// (manifests, modules). Its warnings are logged once, when it is read.
// The repository is read outside any lock.
func (a *Approver) layoutAt(ctx context.Context, rev string) (*layout, error) {
	a.cacheMu.Lock()
	l, ok := a.layouts[rev]
	a.cacheMu.Unlock()
	if ok {
		return l, nil
	}
	cfg := a.opts.Config
	var conf envconf.Conf
	var warnings []string
	if len(cfg.ManifestDirs) == 0 || len(cfg.ModuleDirs) == 0 {
		files, err := a.files(ctx, rev, func(p string) bool { return p == envconf.FileName })
		if err != nil {
			return nil, err
		}
		if data, ok := files[envconf.FileName]; ok {
			if conf, err = envconf.Parse(data); err != nil {
				// Puppet refuses this environment; the commit that fixes it
				// must stay approvable, so owners are read where Puppet's
				// defaults put the code.
				warnings = append(warnings, fmt.Sprintf("%s at %s cannot be read (%v): Puppet refuses it; node files and modules are looked for where Puppet's defaults put them", envconf.FileName, protocol.Short(rev), err))
			}
			for _, ig := range conf.Ignored {
				warnings = append(warnings, fmt.Sprintf("%s at %s: %s (Puppet ignores it)", envconf.FileName, protocol.Short(rev), ig))
			}
		}
	}
	l = &layout{}
	manifest, set := conf.Manifest()
	switch {
	case len(cfg.ManifestDirs) > 0:
		l.manifestDirs, l.from = cfg.ManifestDirs, "the approver's manifest_dirs"
	case set:
		l.from = fmt.Sprintf("%s's manifest", envconf.FileName)
		if dir, ok := envconf.InEnvironment(manifest); ok {
			l.manifestDirs = []string{dir}
		} else {
			warnings = append(warnings, fmt.Sprintf("%s's manifest %q is outside the repository at %s: its node statements cannot be read", envconf.FileName, manifest, protocol.Short(rev)))
		}
	default:
		l.manifestDirs, l.from = []string{manifest}, "Puppet's default: no manifest in "+envconf.FileName
	}
	if len(cfg.ModuleDirs) > 0 {
		l.moduleDirs = cfg.ModuleDirs
	} else {
		entries, _ := conf.ModulePath()
		for _, e := range entries {
			dir, ok := envconf.InEnvironment(e)
			switch {
			case !ok:
				// Absolute paths and $settings are not in the repository:
				// $basemodulepath is the system's module path, not code
				// under review, and owns nothing here.
			case envconf.IsGlob(dir):
				warnings = append(warnings, fmt.Sprintf("%s's modulepath entry %q is a glob: module owners are not looked up there", envconf.FileName, e))
			default:
				l.moduleDirs = append(l.moduleDirs, dir)
			}
		}
		// None left: owners.Input then looks in modules/, where Puppet
		// would find nothing; a rule owning a directory there owns its
		// files anyway.
	}
	l.warnings = warnings
	a.cacheMu.Lock()
	if known, ok := a.layouts[rev]; ok {
		// Read at the same time by another evaluation, which logged it.
		a.cacheMu.Unlock()
		return known, nil
	}
	if a.layouts == nil || len(a.layouts) >= maxLayouts {
		a.layouts = map[string]*layout{}
	}
	a.layouts[rev] = l
	a.cacheMu.Unlock()
	for _, w := range warnings {
		a.log.Warn().Str("revision", rev).Msg(w)
	}
	return l, nil
}

// noNodes is the warning for a revision whose manifests hold no node
// statement, logged the first time it is seen.
func (a *Approver) noNodes(rev string, l *layout) string {
	where := "the repository"
	if len(l.manifestDirs) > 0 {
		where = strings.Join(l.manifestDirs, ", ")
	}
	w := fmt.Sprintf("no node statement found in %s at %s (%s): no host has a node file, so node file owners cannot approve; if the node files are elsewhere, set manifest in %s or manifest_dirs in the approver's config",
		where, protocol.Short(rev), l.from, envconf.FileName)
	a.cacheMu.Lock()
	first := !l.warnedNoNodes
	l.warnedNoNodes = true
	a.cacheMu.Unlock()
	if first {
		a.log.Warn().Str("revision", rev).Strs("manifest_dirs", l.manifestDirs).Msg(w)
	}
	return w
}

// files reads files of rev, fetching once when rev is not known yet.
func (a *Approver) files(ctx context.Context, rev string, keep func(string) bool) (map[string][]byte, error) {
	files, err := a.opts.Code.Files(rev, keep)
	if errors.Is(err, gitrepo.ErrUnknownRevision) {
		if ferr := a.opts.Code.Fetch(ctx); ferr != nil {
			return nil, fmt.Errorf("fetch for %s: %w", rev, ferr)
		}
		files, err = a.opts.Code.Files(rev, keep)
	}
	return files, err
}
