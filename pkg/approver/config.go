package approver

// Config is the approver's configuration, read from a YAML file by its
// command. Every field is optional.
type Config struct {
	// Admins approve anything: logins or org/team names.
	Admins []string `yaml:"admins"`
	// Teams lists team members when GitHub is not used to expand teams.
	Teams map[string][]string `yaml:"teams"`
	// Logins maps commit emails to logins, so authors and co-authors are
	// recognised (their approvals never count).
	Logins map[string]string `yaml:"logins"`
	// ManifestDirs hold the node statements (directories or files).
	// Unset: the manifest of environment.conf at the revision read, else
	// [manifests], as Puppet finds it.
	ManifestDirs []string `yaml:"manifest_dirs"`
	// ModuleDirs hold the modules. Unset: the modulepath entries of
	// environment.conf that are inside the repository, else [modules].
	ModuleDirs []string `yaml:"module_dirs"`
	// AllowUnidentifiedAuthors lets a commit be approved although its
	// author's or a co-author's email maps to no login (so their own
	// approval would count). Off by default.
	AllowUnidentifiedAuthors bool `yaml:"allow_unidentified_authors"`
	// StrictHostnames matches node statements on full host names only,
	// as Puppet 8 does by default; off, as Puppet 7 does.
	StrictHostnames bool `yaml:"strict_hostnames"`
}
