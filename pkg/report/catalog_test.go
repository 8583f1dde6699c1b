package report

import (
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestAddNewFileContents(t *testing.T) {
	data, err := os.ReadFile("testdata/newfiles/report.yaml")
	if err != nil {
		t.Fatal(err)
	}
	catalog, err := os.ReadFile("testdata/newfiles/catalog.json")
	if err != nil {
		t.Fatal(err)
	}
	opts := ParseOptions{CodeDir: "/CODE", HostRoot: "/ROOT"}
	r, err := Parse(data, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.AddNewFileContents(catalog, opts); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, res := range r.Resources {
		got[res.ID] = res.Diff
	}
	want := map[string]string{
		"File[/new]":    "--- /dev/null\n+++ /new\n@@ -0,0 +1,2 @@\n+new file\n+line 2\n",
		"File[/titled]": "--- /dev/null\n+++ /real-path\n@@ -0,0 +1 @@\n+by path\n",
		// Sensitive content and show_diff => false stay hidden.
		"File[/secret]": "",
		"File[/nodiff]": "",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("diffs (-want +got):\n%s", diff)
	}
}

func TestAddNewFileContentsRejectsGarbage(t *testing.T) {
	r := &Report{}
	if err := r.AddNewFileContents([]byte("not json"), ParseOptions{}); err == nil {
		t.Fatal("accepted a catalog that is not JSON")
	}
}
