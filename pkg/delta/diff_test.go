package delta

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestStepDiff(t *testing.T) {
	tests := []struct {
		name, base, commit, want string
		ok                       bool
	}{
		{
			name:   "full context",
			base:   "--- /f\n+++ /f\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n",
			commit: "--- /f\n+++ /f\n@@ -1,3 +1,3 @@\n a\n-b\n+X\n c\n",
			want:   "--- /f\n+++ /f\n@@ -1,3 +1,3 @@\n a\n-B\n+X\n c\n",
			ok:     true,
		},
		{
			// Partial hunks in different places of one live file: the
			// commit also changes line 9, the parent only line 2.
			name:   "partial hunks",
			base:   "--- /f\n+++ /f\n@@ -1,3 +1,3 @@\n l1\n-l2\n+P2\n l3\n",
			commit: "--- /f\n+++ /f\n@@ -1,3 +1,3 @@\n l1\n-l2\n+P2\n l3\n@@ -8,2 +8,2 @@\n l8\n-l9\n+C9\n",
			ok:     false, // lines 6 and 7 are unknown yet within 3 lines of the change
		},
		{
			name:   "different live files",
			base:   "--- /f\n+++ /f\n@@ -1,2 +1,2 @@\n a\n-b\n+B\n",
			commit: "--- /f\n+++ /f\n@@ -1,2 +1,2 @@\n a\n-x\n+X\n",
		},
		{name: "not a diff", base: "hello", commit: "--- /f\n+++ /f\n@@ -1 +1 @@\n-a\n+b\n"},
		{
			name:   "different files",
			base:   "--- /f\n+++ /f\n@@ -1 +1 @@\n-a\n+b\n",
			commit: "--- /g\n+++ /g\n@@ -1 +1 @@\n-a\n+c\n",
		},
		{
			// The parent creates the file and the commit edits what it
			// will hold: the commit's step edits an existing file.
			name:   "created by the parent",
			base:   "--- /dev/null\n+++ /f\n@@ -0,0 +1,2 @@\n+a\n+b\n",
			commit: "--- /dev/null\n+++ /f\n@@ -0,0 +1,2 @@\n+a\n+B\n",
			want:   "--- /f\n+++ /f\n@@ -1,2 +1,2 @@\n a\n-b\n+B\n",
			ok:     true,
		},
		{
			name:   "no newline at end",
			base:   "--- /f\n+++ /f\n@@ -1,2 +1,2 @@\n a\n-b\n+B\n\\ No newline at end of file\n",
			commit: "--- /f\n+++ /f\n@@ -1,2 +1,3 @@\n a\n-b\n+B\n+c\n\\ No newline at end of file\n",
			want:   "--- /f\n+++ /f\n@@ -1,2 +1,3 @@\n a\n-B\n\\ No newline at end of file\n+B\n+c\n\\ No newline at end of file\n",
			ok:     true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := stepDiff(tt.base, tt.commit)
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v (diff %q)", ok, tt.ok, got)
			}
			if ok {
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("stepDiff (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestTrimDiff(t *testing.T) {
	full := "--- /f\n+++ /f\n@@ -1,9 +1,9 @@\n 1\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n 9\n"
	tests := []struct {
		name, in string
		context  int
		want     string
	}{
		{"full to 1", full, 1, "--- /f\n+++ /f\n@@ -4,3 +4,3 @@\n 4\n-5\n+five\n 6\n"},
		{"full kept", full, FullContext, full},
		{"partial hunk", "--- /f\n+++ /f\n@@ -10,5 +10,5 @@\n a\n b\n-c\n+C\n d\n e\n", 1, "--- /f\n+++ /f\n@@ -11,3 +11,3 @@\n b\n-c\n+C\n d\n"},
		{"partial hunk, more context than shown", "--- /f\n+++ /f\n@@ -10,3 +10,3 @@\n b\n-c\n+C\n d\n", 3, "--- /f\n+++ /f\n@@ -10,3 +10,3 @@\n b\n-c\n+C\n d\n"},
		{"garbage", "not a diff", 3, "not a diff"},
		// A file the run creates: a reader must not take it for a deletion.
		{"new file", "--- /dev/null\n+++ /etc/motd\n@@ -0,0 +1,2 @@\n+hello\n+world\n", 3, "--- /dev/null\n+++ /etc/motd\n@@ -0,0 +1,2 @@\n+hello\n+world\n"},
		{"deleted file", "--- /etc/motd\n+++ /dev/null\n@@ -1,2 +0,0 @@\n-hello\n-world\n", 3, "--- /etc/motd\n+++ /dev/null\n@@ -1,2 +0,0 @@\n-hello\n-world\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, TrimDiff(tt.in, tt.context)); diff != "" {
				t.Errorf("TrimDiff (-want +got):\n%s", diff)
			}
		})
	}
}
