package owners

import (
	"testing"
	"time"

	"github.com/balcony-dev/balcony/pkg/delta"
	"github.com/balcony-dev/balcony/pkg/protocol"
	"github.com/google/go-cmp/cmp"
)

// verdict is what a test checks of a GroupStatus.
type verdict struct {
	ID         string
	Approved   bool
	Via        []string
	ApprovedBy []string
	Excluded   []string
	Lapsed     []string
	Missing    string
}

func verdicts(st Status) []verdict {
	var out []verdict
	for _, g := range st.Groups {
		out = append(out, verdict{g.ID, g.Approved, g.Via, g.ApprovedBy, g.Excluded, g.Lapsed, g.Missing})
	}
	return out
}

const sha = "c0ffee"

// The commit: fozzie (owner of line.pp) wrote it with scooter (of the
// muppets/ops team that owns the motd module) as co-author.
var commit = protocol.Commit{
	SHA:         sha,
	Author:      "Fozzie Bear",
	AuthorEmail: "Fozzie@Muppets.example",
	Message:     "motd: wocka wocka\n\nCo-authored-by: Scooter <42+scooter@users.noreply.github.com>\n",
}

func approve(by string, groups ...delta.Group) Approval {
	return Approval{Commit: sha, By: by, Source: SourceCLI, At: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC), Groups: Digests(groups)}
}

func TestEvaluate(t *testing.T) {
	m := testModel(t)
	// line: owned by fozzie (file), muppets/ops (module), statler and waldorf (nodes).
	line := group("a1", "modules/motd/manifests/line.pp", "statler.example.com", "waldorf.example.com")
	// motd: file and module owned by muppets/ops.
	motd := group("b2", "modules/motd/manifests/init.pp", "statler.example.com")
	// ntp: file sam, module rowlf, node web.pp (swedish-chef).
	ntp := group("c3", "modules/ntp/manifests/init.pp", "web02.example.com")
	// Before a late host answered, line had one host: same ID, other digest.
	lineBefore := group("a1", "modules/motd/manifests/line.pp", "statler.example.com")

	// fozzie, line.pp's owner, is the author: the file way is gone.
	const lineMissing = "needs an approval from an owner of module modules/motd/ (@muppets/ops), or owners of every node file: " +
		"manifests/nodes/statler.pp (@statler) for statler.example.com; " +
		"manifests/nodes/waldorf.pp (@waldorf) for waldorf.example.com, or an admin"
	tests := []struct {
		name      string
		groups    []delta.Group
		approvals []Approval
		approved  bool
		want      []verdict
	}{{
		name:     "no groups: approved by itself",
		approved: true,
	}, {
		name:      "file owner approves",
		groups:    []delta.Group{ntp},
		approvals: []Approval{approve("@Sam", ntp)},
		approved:  true,
		want:      []verdict{{ID: "c3", Approved: true, Via: []string{"file"}, ApprovedBy: []string{"sam"}}},
	}, {
		name:      "module owner approves",
		groups:    []delta.Group{ntp},
		approvals: []Approval{approve("rowlf", ntp)},
		approved:  true,
		want:      []verdict{{ID: "c3", Approved: true, Via: []string{"module"}, ApprovedBy: []string{"rowlf"}}},
	}, {
		name:      "module owned by a team: a member approves",
		groups:    []delta.Group{line},
		approvals: []Approval{approve("animal", line)},
		approved:  true,
		want:      []verdict{{ID: "a1", Approved: true, Via: []string{"module"}, ApprovedBy: []string{"animal"}}},
	}, {
		name:      "node file owner approves a one-host group",
		groups:    []delta.Group{ntp},
		approvals: []Approval{approve("swedish-chef", ntp)},
		approved:  true,
		want:      []verdict{{ID: "c3", Approved: true, Via: []string{"nodes"}, ApprovedBy: []string{"swedish-chef"}}},
	}, {
		name:      "one node file's owner is not enough for two hosts",
		groups:    []delta.Group{line},
		approvals: []Approval{approve("statler", line)},
		want: []verdict{{ID: "a1", ApprovedBy: []string{"statler"},
			Missing: "needs an approval from an owner of module modules/motd/ (@muppets/ops), or owners of the remaining node files: manifests/nodes/waldorf.pp (@waldorf) for waldorf.example.com, or an admin"}},
	}, {
		name:      "every node file's owner approves",
		groups:    []delta.Group{line},
		approvals: []Approval{approve("statler", line), approve("waldorf", line)},
		approved:  true,
		want:      []verdict{{ID: "a1", Approved: true, Via: []string{"nodes"}, ApprovedBy: []string{"statler", "waldorf"}}},
	}, {
		name:      "the author's and a co-author's approvals are ignored",
		groups:    []delta.Group{line},
		approvals: []Approval{approve("fozzie", line), approve("@Scooter", line)},
		want:      []verdict{{ID: "a1", Excluded: []string{"fozzie", "scooter"}, Missing: lineMissing}},
	}, {
		name:      "an admin approves anything",
		groups:    []delta.Group{line, ntp},
		approvals: []Approval{{Commit: sha, By: "bunsen", Source: SourceChat, Groups: Digests([]delta.Group{line, ntp})}},
		approved:  true,
		want: []verdict{
			{ID: "a1", Approved: true, Via: []string{"admin"}, ApprovedBy: []string{"bunsen"}},
			{ID: "c3", Approved: true, Via: []string{"admin"}, ApprovedBy: []string{"bunsen"}},
		},
	}, {
		name:      "someone who owns nothing does not count",
		groups:    []delta.Group{ntp},
		approvals: []Approval{approve("beaker", ntp)},
		want: []verdict{{ID: "c3", Missing: "needs an approval from an owner of modules/ntp/manifests/init.pp (@sam), " +
			"or an owner of module modules/ntp/ (@Rowlf), or owners of every node file: manifests/nodes/web.pp (@swedish-chef) for web02.example.com, or an admin"}},
	}, {
		name:      "an approval of another commit does not count",
		groups:    []delta.Group{ntp},
		approvals: []Approval{{Commit: "deadbeef", By: "sam", Groups: Digests([]delta.Group{ntp})}},
		want: []verdict{{ID: "c3", Missing: "needs an approval from an owner of modules/ntp/manifests/init.pp (@sam), " +
			"or an owner of module modules/ntp/ (@Rowlf), or owners of every node file: manifests/nodes/web.pp (@swedish-chef) for web02.example.com, or an admin"}},
	}, {
		name:      "an approval of other content under the same ID lapses",
		groups:    []delta.Group{line},
		approvals: []Approval{approve("animal", lineBefore)},
		want:      []verdict{{ID: "a1", Lapsed: []string{"animal"}, Missing: lineMissing}},
	}, {
		name:      "a lapsed approval renewed is not reported lapsed",
		groups:    []delta.Group{line},
		approvals: []Approval{approve("animal", lineBefore), approve("animal", line)},
		approved:  true,
		want:      []verdict{{ID: "a1", Approved: true, Via: []string{"module"}, ApprovedBy: []string{"animal"}}},
	}, {
		name:      "an identical recomputed group keeps its approval",
		groups:    []delta.Group{recomputed(line)},
		approvals: []Approval{approve("waldorf", line), approve("statler", line)},
		approved:  true,
		want:      []verdict{{ID: "a1", Approved: true, Via: []string{"nodes"}, ApprovedBy: []string{"statler", "waldorf"}}},
	}, {
		name:      "approving the commit as seen does not approve a group added later",
		groups:    []delta.Group{line, motd},
		approvals: []Approval{approve("bunsen", line)},
		want: []verdict{
			{ID: "a1", Approved: true, Via: []string{"admin"}, ApprovedBy: []string{"bunsen"}},
			{ID: "b2", Missing: "needs an approval from an owner of modules/motd/manifests/init.pp (@muppets/ops), " +
				"or an owner of module modules/motd/ (@muppets/ops), or owners of every node file: manifests/nodes/statler.pp (@statler) for statler.example.com, or an admin"},
		},
	}, {
		name:      "every reason that holds is given",
		groups:    []delta.Group{motd},
		approvals: []Approval{approve("animal", motd), approve("statler", motd), approve("bunsen", motd)},
		approved:  true,
		want:      []verdict{{ID: "b2", Approved: true, Via: []string{"admin", "file", "module", "nodes"}, ApprovedBy: []string{"animal", "bunsen", "statler"}}},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := Evaluate(m, commit, tt.groups, tt.approvals)
			if st.Approved != tt.approved {
				t.Errorf("Approved = %v, want %v", st.Approved, tt.approved)
			}
			if diff := cmp.Diff(tt.want, verdicts(st)); diff != "" {
				t.Errorf("groups mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]string{"fozzie", "scooter"}, st.Authors); diff != "" {
				t.Errorf("Authors mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// recomputed is g as a later, independent computation of the same delta
// gives it: equal, but sharing no memory.
func recomputed(g delta.Group) delta.Group {
	c := g
	c.Hosts = append([]string(nil), g.Hosts...)
	c.Resource.Events = append(c.Resource.Events[:0:0], g.Resource.Events...)
	return c
}

// A commit that adds itself as owner in CODEOWNERS gains nothing: the
// model is built from the first parent's CODEOWNERS.
func TestCodeOwnersChangeInCommit(t *testing.T) {
	line := group("a1", "modules/motd/manifests/line.pp", "statler.example.com")
	gonzo := []Approval{approve("gonzo", line)}
	author := protocol.Commit{SHA: sha, AuthorEmail: "kermit@muppets.example"}

	parent := testModel(t)
	if st := Evaluate(parent, author, []delta.Group{line}, gonzo); st.Approved {
		t.Errorf("gonzo approved with the parent's CODEOWNERS: %+v", verdicts(st))
	}

	// The same evaluation with the commit's own CODEOWNERS would approve:
	// reading it is what the caller must not do.
	in := testInput(t)
	in.CodeOwners, _ = repo(t, "CODEOWNERS.commit")
	own, err := New(in)
	if err != nil {
		t.Fatal(err)
	}
	if st := Evaluate(own, author, []delta.Group{line}, gonzo); !st.Approved {
		t.Errorf("fixture check: gonzo not an owner in the commit's CODEOWNERS: %+v", verdicts(st))
	}
}

func TestEvaluateIdentities(t *testing.T) {
	m := testModel(t)
	c := protocol.Commit{SHA: sha, AuthorEmail: "stranger@example.com",
		Message: "x\n\nCo-authored-by: Kermit <KERMIT@muppets.example>\nCo-authored-by: Ghost <ghost@example.com>"}
	st := Evaluate(m, c, nil, nil)
	want := Status{
		Approved:     true,
		Authors:      []string{"kermit"},
		Unidentified: []string{"ghost@example.com", "stranger@example.com"},
	}
	if diff := cmp.Diff(want, st); diff != "" {
		t.Errorf("Evaluate mismatch (-want +got):\n%s", diff)
	}
}

func TestMissingWhenNobodyCan(t *testing.T) {
	m, err := New(Input{
		CodeOwners: map[string][]byte{"CODEOWNERS": []byte("* @kermit\n")},
		Manifests:  map[string][]byte{"manifests/site.pp": []byte("node 'a' {}")},
		Admins:     []string{"kermit"},
	})
	if err != nil {
		t.Fatal(err)
	}
	// kermit is the author, sole owner and sole admin: his approval is void.
	c := protocol.Commit{SHA: sha, AuthorEmail: "kermit@users.noreply.github.com"}
	g := group("g", "modules/x/manifests/init.pp", "a", "b")
	st := Evaluate(m, c, []delta.Group{g}, []Approval{approve("kermit", g)})
	if diff := cmp.Diff([]string{"kermit"}, st.Groups[0].Excluded); diff != "" {
		t.Errorf("Excluded mismatch (-want +got):\n%s", diff)
	}
	want := "nobody can approve: there is no owner who is not an author and no admin " +
		"(node files cannot approve: b has no known node file; node file manifests/site.pp has no owner who is not an author)"
	if st.Approved || st.Groups[0].Missing != want {
		t.Errorf("got approved=%v missing=%q, want %q", st.Approved, st.Groups[0].Missing, want)
	}
}

func TestGroupDigest(t *testing.T) {
	base := group("a1", "modules/motd/manifests/line.pp", "statler.example.com")
	changed := func(f func(*delta.Group)) delta.Group {
		g := recomputed(base)
		f(&g)
		return g
	}
	if GroupDigest(base) != GroupDigest(recomputed(base)) {
		t.Error("equal groups have different digests")
	}
	for name, g := range map[string]delta.Group{
		"hosts":   changed(func(g *delta.Group) { g.Hosts = append(g.Hosts, "waldorf.example.com") }),
		"diff":    changed(func(g *delta.Group) { g.Resource.Diff = "+x" }),
		"event":   changed(func(g *delta.Group) { g.Resource.Events[0].Desired = "{md5}c" }),
		"message": changed(func(g *delta.Group) { g.Resource.Events[0].Message = "changed" }),
		"id":      changed(func(g *delta.Group) { g.ID = "a2" }),
	} {
		if GroupDigest(g) == GroupDigest(base) {
			t.Errorf("a change of %s keeps the digest", name)
		}
	}
}
