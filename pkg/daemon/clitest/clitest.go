// Package clitest runs a balcony command's cobra tree in-process and checks
// what every command shares: --version, and which bus flags each verb takes.
package clitest

import (
	"bytes"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/balcony-dev/balcony/pkg/version"
)

// ServerFlags configure the bus a daemon embeds or provisions: a client
// verb has no use for them.
var ServerFlags = []string{"--embedded", "--data-dir", "--listen", "--no-sync-always", "--provision", "--replicas"}

// ClientFlags reach a running bus; every verb takes them.
var ClientFlags = []string{"--nats-url", "--nats-creds", "--log-level"}

// Run executes a fresh root with args and returns what it printed, out and
// err together.
func Run(newRoot func() *cobra.Command, args ...string) (string, error) {
	root := newRoot()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

// Help returns the --help text of the command line args.
func Help(t *testing.T, newRoot func() *cobra.Command, args ...string) string {
	t.Helper()
	text, err := Run(newRoot, append(args, "--help")...)
	if err != nil {
		t.Fatalf("%v --help: %v", args, err)
	}
	return text
}

// CheckVersion checks that --version prints name and the build's version,
// the one every command reports.
func CheckVersion(t *testing.T, newRoot func() *cobra.Command, name string) {
	t.Helper()
	out, err := Run(newRoot, "--version")
	if err != nil {
		t.Fatal(err)
	}
	if want := name + " version " + version.String() + "\n"; out != want {
		t.Errorf("got %q, want %q", out, want)
	}
}

// CheckFlags checks that the --help of args lists every flag of want and
// none of absent.
func CheckFlags(t *testing.T, newRoot func() *cobra.Command, args []string, want, absent []string) {
	t.Helper()
	text := Help(t, newRoot, args...)
	for _, f := range want {
		if !strings.Contains(text, f) {
			t.Errorf("%v --help does not list %s:\n%s", args, f, text)
		}
	}
	for _, f := range absent {
		if strings.Contains(text, f) {
			t.Errorf("%v --help lists %s:\n%s", args, f, text)
		}
	}
}

// CheckClientVerb checks that verb takes the client flags only: its help
// lists no server flag, and each is refused as unknown. rest completes a
// valid command line after the flag (arguments, required flags).
func CheckClientVerb(t *testing.T, newRoot func() *cobra.Command, verb string, rest ...string) {
	t.Helper()
	CheckFlags(t, newRoot, []string{verb}, ClientFlags, ServerFlags)
	for _, f := range ServerFlags {
		_, err := Run(newRoot, append([]string{verb, f + "=1"}, rest...)...)
		if err == nil || !strings.Contains(err.Error(), "unknown flag: "+f) {
			t.Errorf("%s %s: got %v, want an unknown flag", verb, f, err)
		}
	}
}
