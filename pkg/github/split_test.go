package github

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestSplitReview(t *testing.T) {
	const budget = 1024
	diff := func(lines int) string {
		return "intro\n```diff\n" + strings.Repeat("+wocka wocka wocka\n", lines) + "```\nafter\n"
	}
	tests := []struct {
		name       string
		review     string
		wantParts  int
		wantReopen string // parts[1].reopen
		wantClose  string // parts[0].close
	}{
		{"empty", "", 1, "", ""},
		{"fits", diff(3), 1, "", ""},
		{"cut inside a diff", diff(200), 4, "```diff\n", "```\n"},
		{"tilde fence with info", "~~~~ruby linenos\n" + strings.Repeat("puts 'hi'\n", 300) + "~~~~\n", 3, "~~~~ruby\n", "~~~~\n"},
		{"backticks inside info: not a fence", "```a`b\n" + strings.Repeat("x\n", 1000), 2, "", ""},
		{"long line outside a block", strings.Repeat("ab", 2000), 4, "", ""},
		{"long multibyte line inside a block", "```diff\n+" + strings.Repeat("ö", 3000) + "\n```\n", 7, "```diff\n", "```\n"},
		{"unclosed block stays unclosed", "```diff\n" + strings.Repeat("+x\n", 1000), 3, "```diff\n", "```\n"},
		{"no trailing newline", "a\nb", 1, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parts := splitReview(tt.review, budget)
			if len(parts) != tt.wantParts {
				t.Fatalf("%d parts, want %d", len(parts), tt.wantParts)
			}
			var joined strings.Builder
			for i, p := range parts {
				joined.WriteString(p.text)
				if len(p.String()) > budget {
					t.Errorf("part %d is %d bytes, budget %d", i+1, len(p.String()), budget)
				}
				if !utf8.ValidString(p.text) {
					t.Errorf("part %d cuts a rune", i+1)
				}
				if i < len(parts)-1 && nextFenceAll(p.String()) != (fence{}) {
					t.Errorf("part %d leaves a block open:\n%s", i+1, p)
				}
				if i < len(parts)-1 && p.close == "" && !strings.HasSuffix(p.text, "\n") && !strings.Contains(tt.name, "long line") {
					t.Errorf("part %d cut inside a line that fits", i+1)
				}
			}
			if joined.String() != tt.review {
				t.Errorf("texts do not concatenate to the review")
			}
			if len(parts) > 1 && (parts[1].reopen != tt.wantReopen || parts[0].close != tt.wantClose) {
				t.Errorf("close %q, reopen %q; want %q, %q", parts[0].close, parts[1].reopen, tt.wantClose, tt.wantReopen)
			}
			if strings.Contains(tt.name, "multibyte") && parts[1].close != "\n```\n" {
				t.Errorf("a block cut inside a line closes with %q, want a newline first", parts[1].close)
			}
			if last := parts[len(parts)-1]; last.close != "" {
				t.Errorf("last part closes a block: %q", last.close)
			}
		})
	}
}

func TestStatusBodies(t *testing.T) {
	if got := statusBodies("approved by @statler"); len(got) != 1 || got[0] != statusMarker+"\napproved by @statler" {
		t.Errorf("short status = %q, want one comment: the marker and the status", got)
	}
	status, ids := bigStatus(10_000)
	bodies := statusBodies(status)
	if len(bodies) < 2 {
		t.Fatalf("a %d-byte status makes %d comment(s)", len(status), len(bodies))
	}
	for i, b := range bodies {
		if len(b) > maxBody {
			t.Errorf("status part %d is %d bytes, over the limit", i+1, len(b))
		}
		if own := IsOwn(b); !own {
			t.Errorf("status part %d is not known as balcony's: it could be read as an approval", i+1)
		}
	}
	if k, ok := statusPartIndex(bodies[1]); !ok || k != 2 || !strings.HasPrefix(bodies[0], statusMarker+"\n") {
		t.Errorf("markers: part 1 %.40q, part 2 %.40q", bodies[0], bodies[1])
	}
	if want := fmt.Sprintf("**Status, part 1 of %d** (parts 2 to %d are the next status comments)", len(bodies), len(bodies)); !strings.Contains(bodies[0], want) {
		t.Errorf("the first status part does not say where the rest is (%q):\n%.300s", want, bodies[0])
	}
	assertEveryID(t, bodies, ids)
}

// bigStatus is a status of n groups, each with its id in a <details> block
// as review.ApprovalMarkdown lists the groups of a line, and their ids.
func bigStatus(n int) (string, []string) {
	var b strings.Builder
	var ids []string
	b.WriteString("0123456789 \"motd\" by Kermit: **NOT APPROVED**\n\n**Summary:** lots.\n\n- File[/etc/motd]: many groups\n\n<details><summary>groups</summary>\n\n")
	for i := range n {
		id := fmt.Sprintf("%016x", i*7919)
		ids = append(ids, id)
		fmt.Fprintf(&b, "- `%s` node%05d.example.com\n", id, i)
	}
	b.WriteString("\n</details>\n")
	return b.String(), ids
}

// assertEveryID fails unless every id is in some body, whole.
func assertEveryID(t *testing.T, bodies, ids []string) {
	t.Helper()
	shown := map[string]bool{}
	for _, b := range bodies {
		for _, f := range strings.Split(b, "`") {
			shown[f] = true
		}
	}
	for _, id := range ids {
		if !shown[id] {
			t.Fatalf("group %s is in no status comment (%d comments)", id, len(bodies))
		}
	}
}

func TestIssueTitle(t *testing.T) {
	tests := []struct{ in, want string }{
		{"motd: greet", "motd: greet"},
		{"  two\nlines ", "two lines"},
		{"", "balcony review of 0123456789ab"},
		{strings.Repeat("é", 300), strings.Repeat("é", 255) + "…"},
	}
	for _, tt := range tests {
		if got := issueTitle(tt.in, sha); got != tt.want {
			t.Errorf("issueTitle(%.20q) = %.30q, want %.30q", tt.in, got, tt.want)
		}
	}
}
