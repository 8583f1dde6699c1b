package owners

import (
	"regexp"
	"strings"

	"github.com/balcony-dev/balcony/pkg/report"
)

// containerModule finds the module directory of a resource with no source
// file of its own from its containment path (Stage[main], Motd,
// Concat[/etc/motd], File[/etc/motd]): the outermost class or define
// below the stage, the main class and the node whose module directory
// exists, in the first of the module directories that has it, as Puppet's
// modulepath does. The outermost, not the nearest: the nearest of a
// generated resource is the define that generated it (Concat[/etc/motd]),
// machinery shared by every module, while the outermost is the class
// (included ones hang from the stage) or the define of a node that chose
// what is built. container is the entry that named the module; both are
// empty when no entry names a module present.
func (m *Model) containerModule(r report.Resource) (dir, container string) {
	path := r.ContainmentPath
	if n := len(path); n > 0 && path[n-1] == r.ID {
		path = path[:n-1] // the resource itself
	}
	for _, entry := range path {
		name := containerModuleName(entry)
		if name == "" {
			continue
		}
		for _, d := range m.moduleDirs {
			if dir := d + "/" + name + "/"; m.modules[dir] {
				return dir, entry
			}
		}
	}
	return "", ""
}

// moduleNameRe is a Puppet module name.
var moduleNameRe = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// containerModuleName is the module named by an entry of a containment
// path: the first segment of a class ("Motd", "Foo::Bar") or of a define
// instance's type ("Foo::Bar[x]"), lower-cased. Stages, nodes and the main
// class (site manifests) name none.
func containerModuleName(entry string) string {
	typ, _, _ := strings.Cut(entry, "[")
	switch typ {
	case "Stage", "Node", "Main", "Class":
		return ""
	}
	first, _, _ := strings.Cut(typ, "::")
	name := strings.ToLower(first)
	if !moduleNameRe.MatchString(name) {
		return ""
	}
	return name
}
