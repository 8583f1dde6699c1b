package e2e

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/balcony-dev/balcony/pkg/delta"
	"github.com/balcony-dev/balcony/pkg/nooper"
)

// checkPipeline checks the deltas of the sample history's first three
// pushes (motd, seat, merge), pushed to a real bare repository through the
// installed hook and nooped by real Puppet on three agents: each commit's
// own change, grouped across hosts, with the right diff and source, and
// what nooper show prints of them. TestApprovals pushes them, and calls
// it before signing them off.
func checkPipeline(t *testing.T, f *fleet, start time.Time, motd, seat, merge string) {
	t.Helper()
	c := f.waitReady(t, motd)
	g := onlyGroup(t, c, "File[/etc/balcony/motd-welcome]")
	if diff := cmp.Diff(muppets, g.Hosts); diff != "" {
		t.Errorf("motd change hosts (-want +got):\n%s", diff)
	}
	if !strings.Contains(g.Resource.Diff, "+Welcome to the Muppet Theater, where the show goes on.") {
		t.Errorf("motd diff does not show the new line:\n%s", g.Resource.Diff)
	}
	if g.Resource.DefineType != "Motd::Line[welcome]" || g.Resource.File != "modules/motd/manifests/line.pp" {
		t.Errorf("motd group: define type %q, file %q", g.Resource.DefineType, g.Resource.File)
	}

	c = f.waitReady(t, seat)
	g = onlyGroup(t, c, "File[/etc/balcony/seat]")
	if diff := cmp.Diff([]string{"statler.example.com"}, g.Hosts); diff != "" {
		t.Errorf("seat change hosts (-want +got):\n%s", diff)
	}
	// A new file's content comes from the catalog: the noop has none.
	if !strings.Contains(g.Resource.Diff, "+left box") {
		t.Errorf("the new seat file's content is not shown:\n%s", g.Resource.Diff)
	}

	c = f.waitReady(t, merge)
	g = onlyGroup(t, c, "File[/etc/issue]")
	if diff := cmp.Diff(muppets, g.Hosts); diff != "" {
		t.Errorf("merge hosts (-want +got):\n%s", diff)
	}
	if !strings.Contains(g.Resource.Diff, "+Balcony: Statler and Waldorf") {
		t.Errorf("merge does not bring the side branch's last content: %+v", g.Resource)
	}
	t.Logf("three pushes nooped on %d hosts in %s", len(muppets), time.Since(start).Round(time.Millisecond))

	for _, sha := range []string{motd, seat, merge} {
		c, _ := nooper.Load(t.Context(), f.conn.JS, sha)
		for _, g := range c.Result.Groups {
			if strings.Contains(g.Resource.ID, "refresh-apt-cache") {
				t.Errorf("the permadiff reached the delta of %s", sha)
			}
		}
		if len(c.Result.Unanswered) > 0 || len(c.Result.Errors) > 0 {
			t.Errorf("%s: unanswered %v, errors %+v", sha, c.Result.Unanswered, c.Result.Errors)
		}
	}

	out := run(t, f.dir, filepath.Join(binaries(t), "nooper"), "show", "--nats-url", f.url, merge[:10])
	for _, want := range []string{"File[/etc/issue]", "{fozzie,statler,waldorf}.example.com", "stage left"} {
		if !strings.Contains(out, want) {
			t.Errorf("nooper show lacks %q:\n%s", want, out)
		}
	}
	// A file the commit creates reads as created, not deleted.
	out = run(t, f.dir, filepath.Join(binaries(t), "nooper"), "show", "--nats-url", f.url, seat)
	if !strings.Contains(out, "--- /dev/null\n+++ /etc/balcony/seat\n") {
		t.Errorf("nooper show of the new seat file lacks --- /dev/null, +++ /etc/balcony/seat:\n%s", out)
	}
	resp, err := f.conn.NC.Request(nooper.ShowSubject, []byte(merge), 10*time.Second)
	if err != nil {
		t.Fatalf("ask the nooper's micro service: %v", err)
	}
	if !strings.Contains(string(resp.Data), `"File[/etc/issue]"`) {
		t.Errorf("micro service show: %s", resp.Data)
	}

	if out := runFail(t, f.dir, filepath.Join(binaries(t), "nooper"), "show", "--nats-url", f.url, "deadbeef"); !strings.Contains(out, "no noop of this revision") {
		t.Errorf("show of an unknown revision: %s", out)
	}
}

// onlyGroup checks that the delta is exactly one group of resource id.
func onlyGroup(t *testing.T, c *nooper.Collection, id string) delta.Group {
	t.Helper()
	var ids []string
	for _, g := range c.Result.Groups {
		ids = append(ids, g.Resource.ID)
	}
	if len(ids) != 1 || ids[0] != id {
		t.Fatalf("delta of %s %q: groups %v, want only %s", c.Commit.SHA[:10], c.Commit.Subject, ids, id)
	}
	g := c.Result.Groups[0]
	slices.Sort(g.Hosts)
	return g
}
