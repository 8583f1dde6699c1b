package owners

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/balcony-dev/balcony/pkg/delta"
	"github.com/balcony-dev/balcony/pkg/report"
)

// repo reads testdata/repo as the caller would read a commit: the
// CODEOWNERS named codeowners (placed at the root) and every .pp file.
func repo(t *testing.T, codeowners string) (map[string][]byte, map[string][]byte) {
	t.Helper()
	root := filepath.Join("testdata", "repo")
	co, err := os.ReadFile(filepath.Join(root, codeowners))
	if err != nil {
		t.Fatal(err)
	}
	manifests := map[string][]byte{}
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".pp") {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(root, p)
		manifests[filepath.ToSlash(rel)] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return map[string][]byte{"CODEOWNERS": co}, manifests
}

// testInput is the test repository's Input at the first parent.
func testInput(t *testing.T) Input {
	t.Helper()
	co, manifests := repo(t, "CODEOWNERS")
	return Input{
		CodeOwners: co,
		Manifests:  manifests,
		Admins:     []string{"@Bunsen"},
		Teams: map[string][]string{
			"muppets/ops":  {"@Scooter", "animal"},
			"Muppets/Core": {"kermit", "piggy"},
		},
		Logins: map[string]string{
			"Kermit@Muppets.example": "kermit",
			"fozzie@muppets.example": "@Fozzie",
			"beaker@muppets.org":     "beaker",
		},
	}
}

func testModel(t *testing.T) *Model {
	t.Helper()
	m, err := New(testInput(t))
	if err != nil {
		t.Fatal(err)
	}
	if p := m.Problems(); len(p) != 0 {
		t.Fatalf("problems in testdata: %v", p)
	}
	return m
}

func group(id, file string, hosts ...string) delta.Group {
	return delta.Group{
		ID: id,
		Resource: report.Resource{
			ID: "File[/etc/motd]", Type: "File", Title: "/etc/motd", File: file, Line: 3,
			Events: []report.Event{{Property: "content", Previous: "{md5}a", Desired: "{md5}b", Status: "noop"}},
		},
		Hosts: hosts,
	}
}
