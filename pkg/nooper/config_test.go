package nooper_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/balcony-dev/balcony/pkg/daemon"
	"github.com/balcony-dev/balcony/pkg/delta"
	"github.com/balcony-dev/balcony/pkg/nooper"
)

func TestConfig(t *testing.T) {
	for _, tt := range []struct {
		name, text string
		want       delta.Options
		err        string
	}{
		{name: "ignored resources", text: `branches: [main, production]
ignored_resources:
  - type: Exec
    title: apt-get update.*
    purpose: refreshes the package cache on every run
`, want: delta.Options{Ignored: []delta.IgnoredResource{{Type: "Exec", Title: "apt-get update.*", Purpose: "refreshes the package cache on every run"}}}},
		{name: "empty file", text: ""},
		{name: "no purpose", text: "ignored_resources:\n  - {type: Exec, title: x}\n", err: "needs a purpose"},
		{name: "no type", text: "ignored_resources:\n  - {title: x, purpose: p}\n", err: "no type"},
		{name: "bad regexp", text: "ignored_resources:\n  - {type: File, title: '(', purpose: p}\n", err: "title"},
		{name: "unknown field", text: "ignore: []\n", err: "field ignore not found"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "nooper.yaml")
			if err := os.WriteFile(path, []byte(tt.text), 0o600); err != nil {
				t.Fatal(err)
			}
			var c nooper.Config
			err := daemon.LoadYAML(path, &c)
			if err == nil {
				err = c.Validate()
			}
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("got %v, want an error with %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, c.Delta()); diff != "" {
				t.Errorf("delta options (-want +got):\n%s", diff)
			}
		})
	}
}
