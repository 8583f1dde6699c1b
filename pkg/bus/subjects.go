package bus

import (
	"fmt"
	"regexp"
	"strings"
)

// Subject prefixes. Host names sit at the end of a subject, so the dots of
// an FQDN are just more tokens.
const (
	CommitPrefix = "balcony.commit."
	RunPrefix    = "balcony.run."
	ReportPrefix = "balcony.report."
	EventPrefix  = "balcony.event."
)

var (
	hostPattern  = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$`)
	tokenPattern = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)
)

// ValidHost checks that host can be used as the last tokens of a subject
// and as a KV key.
func ValidHost(host string) error {
	if !hostPattern.MatchString(host) {
		return fmt.Errorf("invalid host name %q: want lower-case DNS labels separated by dots", host)
	}
	return nil
}

// ValidToken checks that s is one subject token usable as a name (a repo
// name, a run kind).
func ValidToken(s string) error {
	if !tokenPattern.MatchString(s) {
		return fmt.Errorf("invalid name %q: want letters, digits, '-' or '_'", s)
	}
	return nil
}

// CommitSubject is where commit events of repo are published.
func CommitSubject(repo string) (string, error) {
	if err := ValidToken(repo); err != nil {
		return "", fmt.Errorf("commit subject: %w", err)
	}
	return CommitPrefix + repo, nil
}

// RunSubject is where runs of kind for host are published.
func RunSubject(kind, host string) (string, error) {
	return kindHostSubject(RunPrefix, kind, host)
}

// ReportSubject is where host publishes the reports of its runs of kind.
func ReportSubject(kind, host string) (string, error) {
	return kindHostSubject(ReportPrefix, kind, host)
}

// HostRunsSubject matches every run of host, of any kind.
func HostRunsSubject(host string) (string, error) {
	if err := ValidHost(host); err != nil {
		return "", err
	}
	return RunPrefix + "*." + host, nil
}

func kindHostSubject(prefix, kind, host string) (string, error) {
	if err := ValidToken(kind); err != nil {
		return "", err
	}
	if err := ValidHost(host); err != nil {
		return "", err
	}
	return prefix + kind + "." + host, nil
}

// SplitKindHost parses a run or report subject into its kind and host.
func SplitKindHost(prefix, subject string) (kind, host string, err error) {
	rest, ok := strings.CutPrefix(subject, prefix)
	if !ok {
		return "", "", fmt.Errorf("subject %q does not start with %q", subject, prefix)
	}
	kind, host, ok = strings.Cut(rest, ".")
	if !ok {
		return "", "", fmt.Errorf("subject %q has no host", subject)
	}
	if err := ValidHost(host); err != nil {
		return "", "", err
	}
	return kind, host, nil
}

// CatchUpConsumer is the name of the short-lived consumer on RUNS that the
// agent of host reads its missed runs with. Host names have no
// underscores, so no two hosts share a name; permissions give an agent
// this name alone.
func CatchUpConsumer(host string) string {
	return "agent_" + strings.ReplaceAll(host, ".", "_")
}
