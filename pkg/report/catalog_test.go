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

func TestMarkNoopFalse(t *testing.T) {
	data, err := os.ReadFile("testdata/newfiles/report.yaml")
	if err != nil {
		t.Fatal(err)
	}
	opts := ParseOptions{CodeDir: "/CODE", HostRoot: "/ROOT"}
	r, err := Parse(data, opts)
	if err != nil {
		t.Fatal(err)
	}
	catalog := `{"resources":[
  {"type":"File","title":"/ROOT/new","parameters":{"content":"x","noop":false}},
  {"type":"File","title":"/ROOT/secret","parameters":{"noop":true}},
  {"type":"File","title":"/ROOT/nodiff","parameters":{"noop":"true"}},
  {"type":"Exec","title":"in sync","parameters":{"noop":"false"}},
  {"type":"Class","title":"M","parameters":{"noop":false}},
  {"type":"Class","title":"M","parameters":{"noop":false}},
  {"type":"Class","title":"Settings"}
]}`
	if err := r.MarkNoopFalse([]byte(catalog), opts); err != nil {
		t.Fatal(err)
	}
	if want := []string{"Class[M]", "Exec[in sync]", "File[/new]"}; !cmp.Equal(r.NoopFalse, want) {
		t.Errorf("NoopFalse = %q, want %q", r.NoopFalse, want)
	}
	got := map[string]bool{}
	for _, res := range r.Resources {
		got[res.ID] = res.NoopFalse
	}
	want := map[string]bool{"File[/new]": true, "File[/secret]": false, "File[/nodiff]": false, "File[/titled]": false}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Resource.NoopFalse (-want +got):\n%s", diff)
	}
	if err := r.MarkNoopFalse([]byte("not json"), opts); err == nil {
		t.Error("accepted a catalog that is not JSON")
	}
}
