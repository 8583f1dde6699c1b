// Package owners decides who must sign off a commit's changes and whether
// they have: it reads CODEOWNERS and the node statements of the Puppet
// manifests, names the owners of each change group (of its source file,
// of its module and of the node file of each of its hosts), and evaluates
// recorded approvals against the groups as they are now. A resource with
// no source file of its own takes its module from its containment path.
//
// The rules, from the design brief: a group is approved when an owner of
// its file approves, or an owner of its module, or when every node file of
// its hosts has an approving owner; the commit's author and co-authors
// never count; admins approve anything; a commit is approved when all its
// groups are, and a commit with no groups is approved by itself. Teams
// expand to their members wherever owners appear.
//
// The package is pure: no I/O, no clock. The caller reads CODEOWNERS and
// the manifests (and lists the paths of the tree) at the commit's first
// parent (as GitHub reads the base branch), so that a commit cannot grant
// itself owners, and supplies team membership and the email-to-login map.
//
// # Identities
//
// People are GitHub logins, normalised by Normalize: surrounding space and
// one leading "@" removed, lower-cased ("@Kermit" is "kermit"). Teams are
// "org/team", normalised the same way. A commit's author and co-authors
// (Co-authored-by trailers) are known by email; Model.Login maps an email
// to a login through Input.Logins, then through GitHub's no-reply address
// form (12345+kermit@users.noreply.github.com). An email it cannot map
// cannot be excluded; Evaluate reports it in Status.Unidentified.
package owners

import (
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/balcony-dev/balcony/pkg/delta"
	"github.com/hmarr/codeowners"
)

// Sentinels, found with errors.Is.
var (
	// ErrInput: Input is malformed (a bad directory, team or admin name).
	// New returns it.
	ErrInput = errors.New("invalid owners input")
	// ErrCodeOwners: a CODEOWNERS line was skipped, as GitHub skips it, or
	// names a team or email nobody can be found for. Model.Problems holds it.
	ErrCodeOwners = errors.New("CODEOWNERS problem")
	// ErrManifest: a node statement could not be read, or its regex does
	// not compile in Go; hosts it might match have no known node file.
	// Model.Problems holds it.
	ErrManifest = errors.New("node statement problem")
)

// CodeOwnersPaths are where GitHub looks for CODEOWNERS, in its order:
// the first present in Input.CodeOwners is used, the others are ignored.
var CodeOwnersPaths = []string{".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS"}

// Defaults of Input.ManifestDirs and Input.ModuleDirs.
const (
	DefaultManifestDir = "manifests"
	DefaultModuleDir   = "modules"
)

// Input is what a Model is built from, read at the commit's first parent.
// The zero value is valid: nobody owns anything and only a commit with no
// changes is approved.
type Input struct {
	// CodeOwners maps repository paths to contents; only CodeOwnersPaths
	// are looked at. A path present with empty content is an existing,
	// empty CODEOWNERS.
	CodeOwners map[string][]byte
	// Manifests maps repository paths to contents of .pp files. Only the
	// .pp files in ManifestDirs are read for node statements.
	Manifests map[string][]byte
	// ManifestDirs are the directories (or single files) of the main
	// manifest, relative to the repository root; default ["manifests"].
	// Files are read directory by directory, each sorted by path, as
	// Puppet loads a manifest directory: that is the regex order.
	ManifestDirs []string
	// ModuleDirs are the directories holding modules; default ["modules"].
	// A source file <dir>/<name>/... belongs to module <name>.
	ModuleDirs []string
	// Tree is the path of every file at the revision (only paths are
	// needed). It tells which module directories exist, to find the
	// module of a resource with no source file from its containment path
	// (see OwnersOf). With none, no module is known to exist and such a
	// resource has no module owners.
	Tree []string
	// Admins may approve anything: logins or teams.
	Admins []string
	// Teams maps "org/team" to its members' logins (all pages).
	Teams map[string][]string
	// Logins maps an email to its owner's login, for authors, co-authors
	// and email owners in CODEOWNERS. Keys are compared case-insensitively.
	Logins map[string]string
	// StrictHostnames matches node statements on the full host name only,
	// as Puppet does with strict_hostname_checking (Puppet 8's default).
	// Off, shorter names are tried too, as Puppet 7 does by default.
	StrictHostnames bool
}

// Model is the ownership of one repository state. It is immutable and
// safe for concurrent use.
type Model struct {
	codeOwnersPath string
	rules          codeowners.Ruleset
	nodes          *nodeIndex
	moduleDirs     []string
	modules        map[string]bool // module directories present ("modules/motd/")
	admins         map[string]bool
	teams          map[string][]string
	logins         map[string]string
	strict         bool
	problems       []error
}

// Ownership is who owns one path: the last CODEOWNERS rule that matches
// it wins, as on GitHub, even when that rule names no owner.
type Ownership struct {
	// Path is what was looked up: a source file, a module directory
	// ("modules/motd/"), a node file. Empty when there is nothing to own
	// (a resource with no source file, or outside any module).
	Path string `msgpack:"Path" json:"path,omitempty"`
	// From says how Path was found: FromSourceFile, FromContainment or
	// FromNodeStatement; empty with Path.
	From string `msgpack:"From" json:"from,omitempty"`
	// Container is the entry of the containment path that named the
	// module ("Motd", "Foo::Bar[x]") when From is FromContainment.
	Container string `msgpack:"Container" json:"container,omitempty"`
	// Pattern and Line are the matching CODEOWNERS rule; empty when none.
	Pattern string `msgpack:"Pattern" json:"pattern,omitempty"`
	Line    int    `msgpack:"Line" json:"line,omitempty"`
	// Owners are the rule's owners as CODEOWNERS writes them, in its
	// order: "@login", "@org/team", "email@example.com".
	Owners []string `msgpack:"Owners" json:"owners"`
	// Logins are who may approve as such an owner: users, members of the
	// teams and logins of the emails; normalised, sorted, unique.
	Logins []string `msgpack:"Logins" json:"logins"`
}

// NodeOwners is the ownership of one node file and the group's hosts whose
// node statement it holds.
type NodeOwners struct {
	// Ownership.Path is the node file; empty for hosts with no known node
	// statement, which nobody can approve as node owner.
	Ownership `msgpack:",inline"`
	Hosts     []string `msgpack:"Hosts" json:"hosts"`
}

// How an Ownership's path was found, in Ownership.From.
const (
	// FromSourceFile: the resource's source file, or the module
	// directory holding it.
	FromSourceFile = "source_file"
	// FromContainment: the module directory of a class or define in the
	// containment path of a resource with no source file (see OwnersOf).
	FromContainment = "containment_path"
	// FromNodeStatement: the manifest holding the hosts' node statement.
	FromNodeStatement = "node_statement"
)

// GroupOwners are the three ways a group can be owned.
type GroupOwners struct {
	File   Ownership `msgpack:"File" json:"file"`
	Module Ownership `msgpack:"Module" json:"module"`
	// Nodes are sorted by node file, the unknown one ("") first.
	Nodes []NodeOwners `msgpack:"Nodes" json:"nodes"`
}

// New builds a Model. It fails only on malformed Input (ErrInput);
// problems in the repository's files are kept in Problems, and the Model
// is built from what could be read: a commit that fixes them must remain
// approvable.
func New(in Input) (*Model, error) {
	m := &Model{
		admins:  map[string]bool{},
		teams:   map[string][]string{},
		logins:  map[string]string{},
		modules: map[string]bool{},
	}
	manifestDirs, err := cleanDirs(in.ManifestDirs, DefaultManifestDir)
	if err != nil {
		return nil, err
	}
	if m.moduleDirs, err = cleanDirs(in.ModuleDirs, DefaultModuleDir); err != nil {
		return nil, err
	}
	for _, p := range in.Tree {
		if dir := m.moduleDir(cleanFile(p)); dir != "" {
			m.modules[dir] = true
		}
	}
	for team, members := range in.Teams {
		t := Normalize(team)
		if strings.Count(t, "/") != 1 || strings.HasPrefix(t, "/") || strings.HasSuffix(t, "/") {
			return nil, fmt.Errorf("%w: team %q is not org/team", ErrInput, team)
		}
		m.teams[t] = normalizeAll(append(m.teams[t], members...))
	}
	for email, login := range in.Logins {
		m.logins[strings.ToLower(strings.TrimSpace(email))] = Normalize(login)
	}
	for _, a := range in.Admins {
		if Normalize(a) == "" {
			return nil, fmt.Errorf("%w: empty admin name", ErrInput)
		}
		for _, l := range m.expand(Normalize(a)) {
			m.admins[l] = true
		}
	}
	m.parseCodeOwners(in.CodeOwners)
	var problems []error
	m.strict = in.StrictHostnames
	m.nodes, problems = parseNodes(in.Manifests, manifestDirs)
	m.problems = append(m.problems, problems...)
	return m, nil
}

// CodeOwnersFile is the CODEOWNERS path used, empty when there was none.
func (m *Model) CodeOwnersFile() string { return m.codeOwnersPath }

// Problems are what could not be read in CODEOWNERS and the manifests,
// each wrapping ErrCodeOwners or ErrManifest with its file and line. They
// narrow who can approve; a review should show them.
func (m *Model) Problems() []error { return append([]error(nil), m.problems...) }

// Node is the node statement host matches, found as Puppet 7 does: for
// the lower-cased name and then each shorter name (dropping its last
// label), an exact statement, else the first regex that matches it
// (manifest files in Input.ManifestDirs order, each directory sorted by
// path, then statements in file order); else default. With
// Input.StrictHostnames only the full name is tried, as Puppet 8 does. ok
// is false when none matches, or when the answer cannot be known because
// of a Problem (an unreadable manifest, or a regex that does not compile
// reached before any match).
func (m *Model) Node(host string) (Node, bool) { return m.nodes.match(host, m.strict) }

// NodeStatements is the number of node statement names found in the
// manifests (`node 'a', 'b' {` counts two; a duplicate, once). None means
// no host has a node file: the manifests are elsewhere, or the
// repository classifies its nodes another way.
func (m *Model) NodeStatements() int { return m.nodes.size() }

// IsAdmin says whether login (normalised here) is an admin, directly or
// through a team.
func (m *Model) IsAdmin(login string) bool { return m.admins[Normalize(login)] }

// OwnersOf names g's owners: of its resource's source file, of the module
// directory holding that file, and of the node file of each of its hosts
// (see Node).
//
// A resource with no source file of its own (one Puppet generates, such
// as the file concat builds from fragments) takes its module from its
// containment path instead (see containerModule): the first class or
// define below the stage, the main class and the node whose module
// directory exists, "Motd" naming modules/motd/, "Foo::Bar[x]" modules/foo/.
//
// A module's owners are those of the last CODEOWNERS rule that covers
// every file in the module directory, found by matching a path two levels
// inside it that no pattern can name: the directory itself
// (/modules/motd/, /modules/motd, motd/), an ancestor (/modules/,
// modules/**) or a catch-all (*, **) make module owners; rules naming
// files (*.pp, one file), one subdirectory (/modules/motd/manifests/) or
// only the top level (/modules/motd/*, modules/*) do not.
func (m *Model) OwnersOf(g delta.Group) GroupOwners {
	var out GroupOwners
	if file := cleanFile(g.Resource.File); file != "" {
		out.File = m.ownership(file, file, FromSourceFile)
		if dir := m.moduleDir(file); dir != "" {
			out.Module = m.ownership(dir, dir+moduleProbe, FromSourceFile)
		}
	} else if dir, container := m.containerModule(g.Resource); dir != "" {
		out.Module = m.ownership(dir, dir+moduleProbe, FromContainment)
		out.Module.Container = container
	}
	byFile := map[string][]string{}
	for _, h := range g.Hosts {
		n, _ := m.Node(h)
		byFile[n.File] = append(byFile[n.File], h)
	}
	files := make([]string, 0, len(byFile))
	for f := range byFile {
		files = append(files, f)
	}
	sort.Strings(files)
	for _, f := range files {
		no := NodeOwners{Hosts: byFile[f]}
		if f != "" {
			no.Ownership = m.ownership(f, f, FromNodeStatement)
		}
		out.Nodes = append(out.Nodes, no)
	}
	return out
}

// moduleDir is the module directory of a source file with a trailing
// slash ("modules/motd/"), or "" when file is in no module.
func (m *Model) moduleDir(file string) string {
	for _, d := range m.moduleDirs {
		rest, ok := strings.CutPrefix(file, d+"/")
		if !ok {
			continue
		}
		if name, _, ok := strings.Cut(rest, "/"); ok && name != "" {
			return d + "/" + name + "/"
		}
	}
	return ""
}

// cleanFile makes a resource's source file relative to the repository
// root, the form CODEOWNERS patterns are matched against.
func cleanFile(f string) string {
	if f == "" {
		return ""
	}
	f = strings.TrimLeft(path.Clean("/"+f), "/")
	return f
}

// cleanDirs validates directories relative to the repository root.
func cleanDirs(dirs []string, def string) ([]string, error) {
	if len(dirs) == 0 {
		return []string{def}, nil
	}
	out := make([]string, 0, len(dirs))
	for _, d := range dirs {
		c := path.Clean(d)
		if d == "" || c == "." || path.IsAbs(c) || c == ".." || strings.HasPrefix(c, "../") {
			return nil, fmt.Errorf("%w: directory %q is not inside the repository", ErrInput, d)
		}
		out = append(out, c)
	}
	return out, nil
}
