package committer_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/balcony-dev/balcony/pkg/committer"
)

func TestParsePostReceive(t *testing.T) {
	a := strings.Repeat("a", 40)
	b := strings.Repeat("b", 40)
	tests := []struct {
		name      string
		input     string
		want      []committer.RefUpdate
		wantLines []string // line numbers named in the error
	}{
		{name: "empty"},
		{
			name:  "two updates",
			input: a + " " + b + " refs/heads/main\n" + zeros + " " + a + " refs/tags/v1\n",
			want: []committer.RefUpdate{
				{Old: a, New: b, Ref: "refs/heads/main"},
				{Old: zeros, New: a, Ref: "refs/tags/v1"},
			},
		},
		{
			name:  "blank lines and CRLF",
			input: "\n" + a + " " + b + " refs/heads/main\r\n\n",
			want:  []committer.RefUpdate{{Old: a, New: b, Ref: "refs/heads/main"}},
		},
		{
			name: "malformed lines named, others parsed",
			input: a + " " + b + " refs/heads/main\n" +
				"garbage\n" +
				a + " " + b + "\n" +
				"xyz " + b + " refs/heads/x\n" +
				a + " " + b + " refs/heads/bad..name\n" +
				b + " " + a + " refs/heads/dev\n",
			want: []committer.RefUpdate{
				{Old: a, New: b, Ref: "refs/heads/main"},
				{Old: b, New: a, Ref: "refs/heads/dev"},
			},
			wantLines: []string{"line 2 ", "line 3 ", "line 4 ", "line 5 "},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := committer.ParsePostReceive(strings.NewReader(tt.input))
			if !slices.Equal(got, tt.want) {
				t.Errorf("updates = %+v, want %+v", got, tt.want)
			}
			if (err != nil) != (len(tt.wantLines) > 0) {
				t.Fatalf("err = %v", err)
			}
			if err == nil {
				return
			}
			if !errors.Is(err, committer.ErrMalformedUpdate) {
				t.Errorf("err %v does not wrap ErrMalformedUpdate", err)
			}
			for _, l := range tt.wantLines {
				if !strings.Contains(err.Error(), l) {
					t.Errorf("err %q does not name %q", err, l)
				}
			}
		})
	}
}
