package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCredentialsVerb(t *testing.T) {
	dir := t.TempDir()
	hosts := filepath.Join(dir, "hosts")
	if err := os.WriteFile(hosts, []byte("# fleet\na.example.com\n\nb.example.com # web\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	creds := filepath.Join(dir, "creds")
	cmd := newRoot()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"credentials", "--dir", creds, "--hosts-file", hosts, "--host", "c.example.com", "--person", "kermit", "--services"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "10 identities") {
		t.Errorf("output %q", out.String())
	}
	users, err := os.ReadFile(filepath.Join(creds, "users.conf"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"# agent a.example.com", "# agent b.example.com", "# agent c.example.com", "# person kermit", "# chatbridge chatbridge", "# web web"} {
		if !strings.Contains(string(users), want) {
			t.Errorf("users.conf lacks %q", want)
		}
	}
}
