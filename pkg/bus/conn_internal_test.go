package bus

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// TestEmbeddedServerOptions checks what only the server's own
// configuration shows: where the store is and how often it syncs.
func TestEmbeddedServerOptions(t *testing.T) {
	tests := []struct {
		name       string
		sync       time.Duration
		wantAlways bool
		wantEvery  time.Duration
	}{
		{"default syncs every write", 0, true, 2 * time.Minute},
		{"interval", 30 * time.Second, false, 30 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			c, err := Connect(context.Background(), Options{
				Embedded: EmbeddedOptions{DataDir: dir, Listen: "127.0.0.1:0", SyncInterval: tt.sync},
				Log:      zerolog.Nop(),
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(c.Close)
			cfg := c.server.JetStreamConfig()
			if cfg == nil {
				t.Fatal("JetStream is not enabled")
			}
			if cfg.SyncAlways != tt.wantAlways || cfg.SyncInterval != tt.wantEvery {
				t.Errorf("sync always %v every %s, want %v every %s", cfg.SyncAlways, cfg.SyncInterval, tt.wantAlways, tt.wantEvery)
			}
			if rel, err := filepath.Rel(dir, cfg.StoreDir); err != nil || !filepath.IsLocal(rel) {
				t.Errorf("store %s is not in the data dir %s", cfg.StoreDir, dir)
			}
		})
	}
}

// TestShutdownServerTwice checks that Close shuts the embedded server
// down and closes the connection, and that closing again is harmless.
func TestShutdownServerTwice(t *testing.T) {
	c, err := Connect(context.Background(), Options{
		Embedded: EmbeddedOptions{DataDir: t.TempDir(), Listen: "127.0.0.1:0"},
		Log:      zerolog.Nop(),
	})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if c.server != nil || c.Embedded() {
		t.Fatal("server kept after Close")
	}
	if !c.NC.IsClosed() {
		t.Fatal("connection open after Close")
	}
	c.Close() // a second Close is harmless
}
