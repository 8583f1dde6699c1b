package approver

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/balcony-dev/balcony/pkg/gitrepo"
	"github.com/balcony-dev/balcony/pkg/owners"
)

// maxOwnerships bounds the ownership models remembered; past it they are
// forgotten at once and built again when needed.
const maxOwnerships = 256

// ownership is the ownership model at a revision, with the warnings about
// where owners were read from. The files it is read from never change at
// a revision: it is built once, and again only when the GitHub teams it
// expanded are due to be read again.
type ownership struct {
	model    *owners.Model
	warnings []string
	// expires is when teams read from GitHub are read again; zero when
	// none were.
	expires time.Time
}

// ownershipAt returns the ownership model at rev, the commit's first
// parent: a commit cannot grant itself owners, nor move the node files
// (environment.conf is read there too). It is built outside any lock:
// two evaluations needing it at once may both build it.
func (a *Approver) ownershipAt(ctx context.Context, rev string) (*ownership, error) {
	now := a.opts.Now()
	a.cacheMu.Lock()
	o, ok := a.ownerships[rev]
	a.cacheMu.Unlock()
	if ok && (o.expires.IsZero() || now.Before(o.expires)) {
		return o, nil
	}
	o, cache, err := a.buildOwnership(ctx, rev)
	if err != nil {
		return nil, err
	}
	if cache {
		a.cacheMu.Lock()
		if a.ownerships == nil || len(a.ownerships) >= maxOwnerships {
			a.ownerships = map[string]*ownership{}
		}
		a.ownerships[rev] = o
		a.cacheMu.Unlock()
	}
	return o, nil
}

// buildOwnership builds the ownership model from the repository at rev;
// cache is false when a GitHub team could not be read (it counts as
// empty this time, and is asked again next time).
func (a *Approver) buildOwnership(ctx context.Context, rev string) (o *ownership, cache bool, err error) {
	cfg := a.opts.Config
	in := owners.Input{
		Admins: cfg.Admins, Teams: map[string][]string{}, Logins: cfg.Logins,
		StrictHostnames: cfg.StrictHostnames,
	}
	for team, members := range cfg.Teams {
		in.Teams[team] = members
	}
	o, cache = &ownership{}, true
	var l *layout
	if rev != "" { // a root commit has no owners but admins
		if l, err = a.layoutAt(ctx, rev); err != nil {
			return nil, false, err
		}
		in.ManifestDirs, in.ModuleDirs = l.manifestDirs, l.moduleDirs
		// A manifest may be a single file, which Under keeps by name.
		under := gitrepo.Under(l.manifestDirs, append(append([]string(nil), owners.CodeOwnersPaths...), l.manifestDirs...)...)
		// Every path is seen, to know which module directories exist (a
		// resource's module by its containment path); only CODEOWNERS and
		// the manifests are read.
		keep := func(p string) bool {
			in.Tree = append(in.Tree, p)
			return under(p)
		}
		files, err := a.files(ctx, rev, keep)
		if err != nil {
			return nil, false, err
		}
		in.CodeOwners, in.Manifests = map[string][]byte{}, map[string][]byte{}
		for p, data := range files {
			if strings.HasSuffix(p, ".pp") {
				in.Manifests[p] = data
			} else {
				in.CodeOwners[p] = data
			}
		}
		o.expires, cache = a.githubTeams(ctx, in.CodeOwners, in.Teams)
	}
	if o.model, err = owners.New(in); err != nil {
		return nil, false, fmt.Errorf("owners at %s: %w", rev, err)
	}
	if l == nil {
		return o, cache, nil
	}
	o.warnings = l.warnings
	if o.model.NodeStatements() == 0 {
		o.warnings = append(append([]string(nil), o.warnings...), a.noNodes(rev, l))
	}
	return o, cache, nil
}
