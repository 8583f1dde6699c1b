package github

import (
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

func TestStatusCommentBodyFits(t *testing.T) {
	short := statusCommentBody("approved by @statler")
	if short != statusMarker+"\napproved by @statler" {
		t.Errorf("short status = %q", short)
	}
	long := statusCommentBody(strings.Repeat("- group g: waiting for @statler\n", 4000))
	if len(long) > maxBody || !strings.HasPrefix(long, statusMarker+"\n") || !strings.Contains(long, "status cut:") {
		t.Errorf("long status: %d bytes, marker %v, note %v", len(long), strings.HasPrefix(long, statusMarker), strings.Contains(long, "status cut:"))
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
