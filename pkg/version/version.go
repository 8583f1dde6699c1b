// Package version says which build of balcony is running. Every command's
// --version, the agents' host records and the micro services (nats micro
// ls) report the same String.
package version

import (
	"regexp"
	"runtime/debug"
	"strings"
)

// Version is set by the build, without or with a leading v:
//
//	go build -ldflags "-X github.com/balcony-dev/balcony/pkg/version.Version=1.2.3"
//
// The Makefile and the Dockerfile set it from `git describe`. Left empty,
// String reads the version Go recorded in the binary.
var Version string

// String is the running build's version as SemVer without a leading v,
// which the NATS micro-service API requires: Version when the build set it;
// else the main module's version as Go stamped it (a tag, or a
// pseudo-version of the commit, +dirty for uncommitted changes); else
// 0.0.0-dev with the VCS revision, when known, as build metadata.
func String() string {
	info, _ := debug.ReadBuildInfo()
	return resolve(Version, info)
}

// semVer is SemVer 2.0.0, as nats.go's micro package checks it.
var semVer = regexp.MustCompile(`^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$`)

// notIdentifier is what SemVer build metadata cannot hold.
var notIdentifier = regexp.MustCompile(`[^0-9a-zA-Z-]+`)

func resolve(stamped string, info *debug.BuildInfo) string {
	if stamped != "" {
		v := strings.TrimPrefix(stamped, "v")
		if semVer.MatchString(v) {
			return v
		}
		// A version that is not SemVer (a bare commit hash) is kept, as
		// build metadata, rather than refused by the micro API at start.
		return "0.0.0+" + strings.Trim(notIdentifier.ReplaceAllString(stamped, "."), ".")
	}
	if info == nil {
		return "0.0.0-dev"
	}
	if v := strings.TrimPrefix(info.Main.Version, "v"); semVer.MatchString(v) {
		return v
	}
	var rev string
	var dirty bool
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "0.0.0-dev"
	}
	v := "0.0.0-dev+" + rev[:min(12, len(rev))]
	if dirty {
		v += ".dirty"
	}
	return v
}
