package deploy

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/balcony-dev/balcony/pkg/bus"
)

// credentialsDir lays out what systemd gives a unit that loads bus.conf
// and users.conf (LoadCredential): both side by side in one directory. It
// returns that directory and where `nooper credentials` put the seeds.
func credentialsDir(t *testing.T) (creds, seeds string) {
	t.Helper()
	seeds = filepath.Join(t.TempDir(), "credentials")
	out, err := exec.Command(filepath.Join(binaries(t), "nooper"), "credentials", "--dir", seeds, "--services").CombinedOutput()
	if err != nil {
		t.Fatalf("nooper credentials: %v\n%s", err, out)
	}
	creds = t.TempDir()
	for from, to := range map[string]string{"systemd/bus.conf": "bus.conf", filepath.Join(seeds, "users.conf"): "users.conf"} {
		data, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(creds, to), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return creds, seeds
}

// connect connects with seed; wait retries (with backoff) until the server
// answers or ctx ends.
func connect(ctx context.Context, url, seed string, wait bool) (*bus.Conn, error) {
	return bus.Connect(ctx, bus.Options{URL: url, CredsFile: seed, WaitForServer: wait, Log: zerolog.Nop()})
}

// TestBusConfAuthenticates starts the nooper's embedded server and a
// nats-server as their units do, with bus.conf and the users `nooper
// credentials` wrote, and checks that a service's seed gets in, a client
// without one does not, and reports fit (8MB payloads).
func TestBusConfAuthenticates(t *testing.T) {
	creds, seeds := credentialsDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	nooper, err := bus.Connect(ctx, bus.Options{
		CredsFile: filepath.Join(seeds, "services", "nooper.nk"),
		Embedded:  bus.EmbeddedOptions{DataDir: t.TempDir(), Listen: "127.0.0.1:0", ConfigFile: filepath.Join(creds, "bus.conf")},
		Log:       zerolog.Nop(),
	})
	if err != nil {
		t.Fatalf("the nooper's embedded server with bus.conf: %v", err)
	}
	defer nooper.Close()

	port, err := bus.FreeRoutePort()
	if err != nil {
		t.Fatal(err)
	}
	server := exec.Command(filepath.Join(binaries(t), "nats-server"), "--config", filepath.Join(creds, "bus.conf"),
		"--store_dir", t.TempDir(), "--addr", "127.0.0.1", "--port", strconv.Itoa(port))
	if err := server.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = server.Process.Kill()
		_ = server.Wait()
	}()
	external := "nats://127.0.0.1:" + strconv.Itoa(port)

	for _, url := range []string{nooper.URL(), external} {
		// The external server may still be starting: wait for it until
		// the deadline, which only a hang reaches.
		c, err := connect(ctx, url, filepath.Join(seeds, "services", "approver.nk"), true)
		if err != nil {
			t.Fatalf("%s: the approver's seed: %v", url, err)
		}
		if got := c.NC.MaxPayload(); got != 8<<20 {
			t.Errorf("%s: max_payload %d, want 8MB", url, got)
		}
		c.Close()
		if c, err := connect(ctx, url, "", false); err == nil {
			c.Close()
			t.Errorf("%s: a client without credentials got in", url)
		}
	}
}
