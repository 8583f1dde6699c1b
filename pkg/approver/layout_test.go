package approver_test

import (
	"bytes"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/rs/zerolog"

	"github.com/balcony-dev/balcony/pkg/approver"
	"github.com/balcony-dev/balcony/pkg/delta"
	"github.com/balcony-dev/balcony/pkg/report"
)

// Parents with other layouts: testdata/nodes-layout (node files in
// nodes/ and modules in site/, as its environment.conf says) and
// testdata/nodes-elsewhere (node files in nodes/, no environment.conf).
var (
	revNodesLayout    = strings.Repeat("4", 40)
	revNodesElsewhere = strings.Repeat("5", 40)
	// testdata/single-manifest: environment.conf's manifest is site.pp.
	revSingleManifest = strings.Repeat("6", 40)
	// testdata/broken-conf: an environment.conf Puppet cannot parse.
	revBrokenConf = strings.Repeat("7", 40)
)

// siteMotdGroup is a change of the motd module of nodes-layout on statler.
var siteMotdGroup = delta.Group{
	ID: "517e00000003",
	Resource: report.Resource{
		ID: "File[/etc/motd]", Type: "File", Title: "/etc/motd", File: "site/motd/manifests/init.pp", Line: 2,
		Events: []report.Event{{Property: "content", Previous: "{md5}0", Desired: "{md5}1", Status: "noop"}},
	},
	Hosts: []string{"statler.example.com"},
}

// setTree makes testdata/dir the tree of rev.
func (c *fakeCode) setTree(rev, dir string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.trees[rev] = dir
}

// logBuffer collects the approver's log lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// count is the number of lines holding s.
func (b *logBuffer) count(s string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, line := range strings.Split(b.buf.String(), "\n") {
		if strings.Contains(line, s) {
			n++
		}
	}
	return n
}

// startLayout starts an approver whose config is changed by adjust, with
// its log in the returned buffer, and the two layout parents known.
func startLayout(t *testing.T, adjust func(*approver.Config)) (*harness, *logBuffer) {
	t.Helper()
	h := start(t)
	h.stopApprover()
	logs := &logBuffer{}
	h.opts.Log = zerolog.New(logs)
	if adjust != nil {
		adjust(&h.opts.Config)
	}
	h.code.setTree(revNodesLayout, "nodes-layout")
	h.code.setTree(revNodesElsewhere, "nodes-elsewhere")
	h.code.setTree(revSingleManifest, "single-manifest")
	h.code.setTree(revBrokenConf, "broken-conf")
	h.startApprover()
	return h, logs
}

// layoutCommit is a commit whose first parent is parent, with a finished
// noop of siteMotdGroup.
func (h *harness) layoutCommit(name, parent string) string {
	c := commit(name)
	c.Parents = []string{parent}
	h.putNoop(c, []delta.Group{siteMotdGroup})
	return c.SHA
}

func TestNodeFilesWhereEnvironmentConfSays(t *testing.T) {
	h, logs := startLayout(t, nil)
	c := h.layoutCommit("environment.conf layout", revNodesLayout)
	st := h.status(c)
	if len(st.Warnings) != 0 {
		t.Errorf("warnings %q, want none", st.Warnings)
	}
	g := groupStatus(t, st, siteMotdGroup.ID)
	if len(g.Owners.Nodes) != 1 || g.Owners.Nodes[0].Path != "nodes/statler.pp" || !slices.Equal(g.Owners.Nodes[0].Owners, []string{"@statler"}) {
		t.Errorf("node owners %+v, want @statler of nodes/statler.pp", g.Owners.Nodes)
	}
	if g.Owners.Module.Path != "site/motd/" || !slices.Equal(g.Owners.Module.Owners, []string{"@muppets/ops"}) {
		t.Errorf("module owners %+v, want @muppets/ops of site/motd/ (modulepath site)", g.Owners.Module)
	}
	if r := h.approve(c, "statler"); !r.Approved {
		t.Errorf("the owner of statler's node file in nodes/ approves nothing: %+v", r)
	}
	if n := logs.count("node statement"); n != 0 {
		t.Errorf("%d log lines about node statements, want none", n)
	}
}

func TestNoNodeStatementWarns(t *testing.T) {
	h, logs := startLayout(t, nil)
	c := h.layoutCommit("node files elsewhere", revNodesElsewhere)
	for range 2 {
		st := h.status(c)
		if len(st.Warnings) != 1 || !strings.Contains(st.Warnings[0], "no node statement found in manifests") ||
			!strings.Contains(st.Warnings[0], "environment.conf") {
			t.Errorf("warnings %q, want one saying no node statement was found in manifests, naming environment.conf", st.Warnings)
		}
	}
	if r := h.approve(c, "statler"); r.Approved || len(r.Counted) != 0 {
		t.Errorf("statler approves with no node statement known: %+v", r)
	}
	if n := logs.count("no node statement found"); n != 1 {
		t.Errorf("%d log lines saying no node statement was found, want 1 for the revision:\n%s", n, logs.buf.String())
	}
	if n := logs.count(`"level":"warn"`); n != 1 {
		t.Errorf("%d warnings logged, want 1", n)
	}
}

// The approver's config overrides environment.conf, both ways.
func TestManifestDirsOverrideEnvironmentConf(t *testing.T) {
	h, _ := startLayout(t, func(c *approver.Config) { c.ManifestDirs = []string{"nodes"} })
	c := h.layoutCommit("configured node files", revNodesElsewhere)
	if st := h.status(c); len(st.Warnings) != 0 {
		t.Errorf("warnings %q, want none with manifest_dirs [nodes]", st.Warnings)
	}
	if r := h.approve(c, "statler"); !r.Approved {
		t.Errorf("the owner of nodes/statler.pp approves nothing with manifest_dirs [nodes]: %+v", r)
	}

	h, _ = startLayout(t, func(c *approver.Config) {
		c.ManifestDirs, c.ModuleDirs = []string{"manifests"}, []string{"modules"}
	})
	c = h.layoutCommit("configured elsewhere", revNodesLayout)
	st := h.status(c)
	if len(st.Warnings) != 1 || !strings.Contains(st.Warnings[0], "manifest_dirs") {
		t.Errorf("warnings %q, want one naming manifest_dirs", st.Warnings)
	}
	if g := groupStatus(t, st, siteMotdGroup.ID); g.Owners.Module.Path != "" {
		t.Errorf("module %q, want none with module_dirs [modules]", g.Owners.Module.Path)
	}
}

// The main manifest can be one file; an environment.conf Puppet refuses
// is a warning, and owners are read where Puppet's defaults are.
func TestNodeFileLayouts(t *testing.T) {
	h, _ := startLayout(t, nil)
	for _, tt := range []struct {
		name, parent, nodeFile, warning string
	}{
		{"a single manifest file", revSingleManifest, "site.pp", ""},
		{"a broken environment.conf", revBrokenConf, "manifests/site.pp", "environment.conf at 777777777777 cannot be read"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := h.layoutCommit(tt.name, tt.parent)
			st := h.status(c)
			if got := strings.Join(st.Warnings, "\n"); tt.warning == "" && got != "" || !strings.Contains(got, tt.warning) {
				t.Errorf("warnings %q, want %q", st.Warnings, tt.warning)
			}
			g := groupStatus(t, st, siteMotdGroup.ID)
			if len(g.Owners.Nodes) != 1 || g.Owners.Nodes[0].Path != tt.nodeFile {
				t.Errorf("node owners %+v, want those of %s", g.Owners.Nodes, tt.nodeFile)
			}
			if r := h.approve(c, "statler"); !r.Approved {
				t.Errorf("the owner of %s approves nothing: %+v", tt.nodeFile, r)
			}
		})
	}
}
