package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestAgentCanEmbedTheBus(t *testing.T) {
	root := newRoot()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetArgs([]string{"--help"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"--nats-url", "--embedded", "--data-dir", "--listen"} {
		if !strings.Contains(out.String(), f) {
			t.Errorf("agent --help does not list %s", f)
		}
	}
}
