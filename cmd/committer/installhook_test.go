package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestInstallHookPassesCredentialsAndTLS: the installed hook connects as
// install-hook was told, credentials and TLS included, with the files
// named absolutely (the hook runs inside the repository); a hook without
// the CA cannot reach a bus that speaks TLS.
func TestInstallHookPassesCredentialsAndTLS(t *testing.T) {
	dir := t.TempDir()
	repo := filepath.Join(dir, "puppet.git")
	if out, err := exec.Command("git", "init", "-q", "--bare", "-b", "main", repo).CombinedOutput(); err != nil {
		t.Fatalf("git init: %v\n%s", err, out)
	}
	t.Chdir(dir)
	root := newRoot()
	root.SetArgs([]string{"install-hook", "--nats-url", "tls://bus.example.com:4222", "--nats-creds", "committer.nk",
		"--nats-tls-ca", "tls/ca.pem", "--nats-tls-cert", "tls/client.pem", "--nats-tls-key", "tls/client-key.pem", "--branch", "main", repo})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	hook, err := os.ReadFile(filepath.Join(repo, "hooks", "post-receive"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"--nats-url tls://bus.example.com:4222",
		"--nats-creds " + filepath.Join(dir, "committer.nk"),
		"--nats-tls-ca " + filepath.Join(dir, "tls", "ca.pem"),
		"--nats-tls-cert " + filepath.Join(dir, "tls", "client.pem"),
		"--nats-tls-key " + filepath.Join(dir, "tls", "client-key.pem"),
	} {
		if !strings.Contains(strings.ReplaceAll(string(hook), "'", ""), want) {
			t.Errorf("the hook lacks %q:\n%s", want, hook)
		}
	}
}
