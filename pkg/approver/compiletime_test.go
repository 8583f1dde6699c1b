package approver_test

import (
	"strings"
	"testing"

	"github.com/balcony-dev/balcony/pkg/delta"
	"github.com/balcony-dev/balcony/pkg/gitrepo"
)

// TestStatusWarnsOfCompileTimeCode: a commit whose diff adds file() of
// /etc/shadow and a custom fact gets a warning for each in its status,
// after those about the layout; a commit without is not warned.
func TestStatusWarnsOfCompileTimeCode(t *testing.T) {
	h := start(t)
	c := commit("reads the shadow file")
	h.putNoop(c, []delta.Group{motdGroup})
	h.code.setChanges(c.SHA, []gitrepo.Change{
		{Path: "manifests/nodes/statler.pp", Before: []byte("node 'statler' {}\n"),
			After: []byte("node 'statler' {\n  notify { file('/etc/shadow'): }\n}\n")},
		{Path: "modules/motd/lib/facter/secret.rb", After: []byte("Facter.add(:x) { setcode { 'y' } }\n")},
		{Path: "README.md", After: []byte("generate(\n")},
	})
	st := h.status(c.SHA)
	want := []string{
		"code that runs on every host during the noop: manifests/nodes/statler.pp:2: file() of a path or variable reads the host during the noop",
		"code that runs on every host during the noop: modules/motd/lib/facter/secret.rb: adds code in lib/facter, which runs on every host during the noop",
	}
	if got := strings.Join(st.Warnings, "\n"); got != strings.Join(want, "\n") {
		t.Errorf("warnings\n%s\nwant\n%s", got, strings.Join(want, "\n"))
	}

	plain := commit("plain")
	h.putNoop(plain, []delta.Group{motdGroup})
	if st := h.status(plain.SHA); len(st.Warnings) != 0 {
		t.Errorf("warnings %q for a commit adding no such code", st.Warnings)
	}
}
