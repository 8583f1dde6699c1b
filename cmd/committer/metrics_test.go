package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/balcony-dev/balcony/pkg/bus/bustest"
	"github.com/balcony-dev/balcony/pkg/gitrepo/gittest"
)

// The long-running verbs serve their metrics on --metrics-listen: watch's
// counters move with the commit it publishes; serve's endpoint answers
// with the bus connection's collectors.
func TestVerbsServeMetrics(t *testing.T) {
	srv := bustest.Start(t)
	t.Setenv("BALCONY_NATS_URL", "")
	code := gittest.New(t)
	code.Commit("first", nil)
	code.Push("main")
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		verb string
		args []string
		want string // a series the endpoint shows once the verb works
	}{
		{"watch", []string{"--interval", "1h"}, `balcony_committer_events_total{source="watch"} 1`},
		{"serve", []string{"--github-repo", "muppets/puppet", "--webhook-secret-file", secret, "--listen-http", freeAddr(t)}, "balcony_bus_reconnects_total 0"},
	} {
		t.Run(tt.verb, func(t *testing.T) {
			addr := freeAddr(t)
			root := newRoot()
			root.SetOut(io.Discard)
			root.SetErr(io.Discard)
			root.SetArgs(append([]string{tt.verb, "--nats-url", srv.URL(), "--provision=false", "--repo", code.Bare,
				"--state-dir", t.TempDir(), "--metrics-listen", addr}, tt.args...))
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- root.ExecuteContext(ctx) }()
			defer func() {
				cancel()
				if err := <-done; err != nil {
					t.Errorf("committer %s: %v", tt.verb, err)
				}
			}()
			var body string
			bustest.Eventually(t, 30*time.Second, "the metrics endpoint showing "+tt.want, func() bool {
				select {
				case err := <-done:
					done <- err
					t.Fatalf("committer %s ended: %v", tt.verb, err)
				default:
				}
				resp, err := http.Get("http://" + addr + "/metrics")
				if err != nil {
					return false
				}
				defer resp.Body.Close()
				data, _ := io.ReadAll(resp.Body)
				body = string(data)
				return strings.Contains(body, tt.want)
			})
			if !strings.Contains(body, "go_goroutines") {
				t.Error("the endpoint lacks the Go runtime's collectors")
			}
		})
	}
}

// freeAddr is a loopback address with a port free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return fmt.Sprintf("127.0.0.1:%d", l.Addr().(*net.TCPAddr).Port)
}
