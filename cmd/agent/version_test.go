package main

import (
	"bytes"
	"testing"

	"github.com/balcony-dev/balcony/pkg/version"
)

// --version reports the build's version, the one every command reports.
func TestVersion(t *testing.T) {
	root := newRoot()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs([]string{"--version"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	if want := "agent version " + version.String() + "\n"; out.String() != want {
		t.Errorf("got %q, want %q", out.String(), want)
	}
}
