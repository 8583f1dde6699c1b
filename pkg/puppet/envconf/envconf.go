// Package envconf reads Puppet's environment.conf, the file at the top of
// an environment (here: the repository's root) that says where its main
// manifest and its modules are, so that balcony runs the code and finds
// its node files the way Puppet does. It parses bytes and resolves paths
// as strings; it does no I/O.
//
// The rules are Puppet 7.23's (lib/puppet/settings/ini_file.rb,
// config_file.rb, value_translator.rb and environment_conf.rb), as the
// docs describe them: "environment.conf: Per-environment settings" at
// https://puppet.com/docs/puppet/7/config_file_environment.
package envconf

import (
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"regexp"
	"strings"
)

// FileName is environment.conf's name, at the top of the environment.
const FileName = "environment.conf"

// Puppet's defaults when environment.conf does not set manifest or
// modulepath, relative to the environment. Puppet's default modulepath
// also ends with $basemodulepath, the system's module directories;
// balcony leaves it out unless environment.conf names it.
const (
	DefaultManifest   = "manifests"
	DefaultModulePath = "modules"
)

// ErrSyntax is wrapped by Parse for a line Puppet cannot parse either; it
// then refuses the environment.
var ErrSyntax = errors.New("environment.conf syntax error")

// settings are those Puppet accepts in environment.conf; it ignores
// others with a warning.
var settings = map[string]bool{
	"manifest": true, "modulepath": true, "config_version": true,
	"environment_timeout": true, "environment_data_provider": true,
	"static_catalogs": true, "rich_data": true,
}

// Conf is what an environment.conf says. The zero value is a missing or
// empty file: Puppet's defaults.
type Conf struct {
	values map[string]string
	// Ignored are the lines Puppet ignores with a warning: settings in a
	// section other than [main], and unknown settings. Each starts with
	// "line N:".
	Ignored []string
}

var (
	// [[:word:]] in Ruby: letters, marks, digits, connector punctuation.
	sectionLine = regexp.MustCompile(`^\s*\[([\p{L}\p{M}\p{Nd}\p{Pc}]+)\]\s*$`)
	settingLine = regexp.MustCompile(`^\s*([\p{L}\p{M}\p{Nd}\p{Pc}]+)\s*=\s*(.*?)\s*$`)
	blankLine   = regexp.MustCompile(`^\s*(#|$)`)
	// fileInfo is puppet.conf's file metadata ("{owner = puppet}"), which
	// Puppet strips from every value, environment.conf's included.
	fileInfo  = regexp.MustCompile(`\{\s*([^}]+)\s*\}`)
	fileParam = regexp.MustCompile(`^\s*(\w+)\s*=\s*(\w+)\s*$`)
	comma     = regexp.MustCompile(`\s*,\s*`)
)

// Parse reads an environment.conf as Puppet does: "name = value" lines
// outside any section or in [main]; lines starting with # are comments
// (a # later in a line is part of the value); one quote at each end of a
// value is removed; the first of two settings of one name wins. Settings
// in other sections and unknown settings are ignored (Conf.Ignored). Any
// other line is an error wrapping ErrSyntax.
func Parse(data []byte) (Conf, error) {
	c := Conf{values: map[string]string{}}
	section := "main"
	text := strings.ReplaceAll(string(data), "\r\n", "\n")
	for i, line := range strings.Split(text, "\n") {
		n := i + 1
		if m := sectionLine.FindStringSubmatch(line); m != nil {
			section = m[1]
			continue
		}
		m := settingLine.FindStringSubmatch(line)
		if m == nil {
			if blankLine.MatchString(line) {
				continue
			}
			return Conf{}, fmt.Errorf("%w: line %d: cannot parse %q", ErrSyntax, n, line)
		}
		name, value := m[1], unquote(m[2])
		value, err := stripFileInfo(value)
		if err != nil {
			return Conf{}, fmt.Errorf("%w: line %d: %v", ErrSyntax, n, err)
		}
		switch {
		case section != "main":
			c.Ignored = append(c.Ignored, fmt.Sprintf("line %d: %s is in section [%s]: environment.conf has no sections", n, name, section))
		case !settings[name]:
			c.Ignored = append(c.Ignored, fmt.Sprintf("line %d: unknown setting %s", n, name))
		default:
			if _, dup := c.values[name]; !dup {
				c.values[name] = value
			}
		}
	}
	return c, nil
}

// unquote removes a quote at each end, and then trailing space, as
// Puppet's value translator does ("'a b' " is a b).
func unquote(v string) string {
	if strings.HasPrefix(v, `"`) || strings.HasPrefix(v, "'") {
		v = v[1:]
	}
	if strings.HasSuffix(v, `"`) || strings.HasSuffix(v, "'") {
		v = v[:len(v)-1]
	}
	return strings.TrimRight(v, " \t")
}

// stripFileInfo removes the first {owner=..., group=..., mode=...} from
// a value, as Puppet does; anything else in braces is an error there.
func stripFileInfo(v string) (string, error) {
	loc := fileInfo.FindStringSubmatchIndex(v)
	if loc == nil {
		return v, nil
	}
	for _, p := range comma.Split(v[loc[2]:loc[3]], -1) {
		m := fileParam.FindStringSubmatch(p)
		switch {
		case m == nil:
			return "", fmt.Errorf("cannot parse %q", v)
		case m[1] != "owner" && m[1] != "group" && m[1] != "mode":
			return "", fmt.Errorf("invalid file option %q in %q", m[1], v)
		case m[1] == "mode" && strings.Trim(m[2], "0123456789") != "":
			return "", fmt.Errorf("file modes must be numbers in %q", v)
		}
	}
	return strings.TrimRight(v[:loc[0]]+v[loc[1]:], " \t"), nil
}

// Manifest is the main manifest as written: a file, or a directory whose
// .pp files Puppet reads in path order; Puppet's default when unset.
// Resolve it with Resolve or InEnvironment. set says whether
// environment.conf set it.
func (c Conf) Manifest() (manifest string, set bool) {
	if v, ok := c.values["manifest"]; ok {
		return v, true
	}
	return DefaultManifest, false
}

// ModulePath is the module directories as written, in Puppet's order;
// Puppet's default when unset. Entries may be relative to the
// environment, absolute, globs, or start with a $setting that Puppet
// interpolates ($basemodulepath). Empty entries are dropped: Puppet would
// take the environment directory itself as a module directory, which no
// layout means. set says whether environment.conf set it.
func (c Conf) ModulePath() (entries []string, set bool) {
	v, ok := c.values["modulepath"]
	if !ok {
		return []string{DefaultModulePath}, false
	}
	for _, e := range strings.Split(v, ":") {
		if e != "" {
			entries = append(entries, e)
		}
	}
	return entries, true
}

// Resolve makes p (a manifest or a modulepath entry, as written) usable
// from outside the environment directory envDir, as Puppet does: a path
// relative to the environment becomes envDir/p; an absolute path, and a
// path starting with $ (a setting Puppet interpolates itself, such as
// $basemodulepath), are returned as they are.
func Resolve(envDir, p string) string {
	if strings.HasPrefix(p, "$") || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(envDir, p)
}

// InEnvironment returns p (a manifest or a modulepath entry, as written)
// as a clean slash-separated path relative to the environment directory
// ("./nodes/" is "nodes"), and whether it names something inside it. It
// is false for absolute paths, paths leading out with "..", the
// environment directory itself, paths starting with ~ (Puppet expands
// them to a home directory) and paths starting with $: Puppet
// interpolates those from its own settings, and $basemodulepath (the
// system's module path) or $codedir is never the repository.
func InEnvironment(p string) (string, bool) {
	if p == "" || strings.HasPrefix(p, "$") || strings.HasPrefix(p, "~") || path.IsAbs(p) {
		return "", false
	}
	c := path.Clean(p)
	if c == "." || c == ".." || strings.HasPrefix(c, "../") {
		return "", false
	}
	return c, true
}

// IsGlob says whether Puppet expands p as a glob (in a modulepath entry).
func IsGlob(p string) bool { return strings.ContainsAny(p, "*?[{") }
