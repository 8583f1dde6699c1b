package github

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/balcony-dev/balcony/pkg/github/githubtest"
)

func TestCommentsEveryPage(t *testing.T) {
	f := githubtest.New(t)
	f.SetPageSize(2)
	n := f.AddIssue(commitMarker(sha)+"\nreview", "open", "balcony")
	f.AddComment(n, "balcony[bot]", statusMarker+"\nwaiting for @statler")
	kermit := f.AddComment(n, "Kermit", "looks fine to me")
	f.AddComment(n, "balcony[bot]", partMarker(2)+"\n**Review, part 2 of 2**\n\napproved")
	statler := f.AddComment(n, "Statler", "Approved! for fozzie")
	f.AddComment(n+1, "Waldorf", "approved") // another issue
	waldorf := f.AddComment(n, "Waldorf", "not approved")

	got, err := newClient(t, f).Comments(context.Background(), n)
	if err != nil {
		t.Fatal(err)
	}
	at := func(id int64) time.Time { return githubtest.Epoch.Add(time.Duration(id) * time.Second) }
	want := []Comment{
		{ID: kermit, Issue: n, Login: "kermit", Body: "looks fine to me", CreatedAt: at(kermit)},
		{ID: statler, Issue: n, Login: "statler", Body: "Approved! for fozzie", CreatedAt: at(statler)},
		{ID: waldorf, Issue: n, Login: "waldorf", Body: "not approved", CreatedAt: at(waldorf)},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("comments (-want +got):\n%s", diff)
	}
	var pages []string
	for _, c := range f.Calls() {
		q, _ := url.ParseQuery(c.Query)
		if q.Get("per_page") != "100" {
			t.Errorf("%s?%s: per_page not 100", c.Path, c.Query)
		}
		pages = append(pages, q.Get("page"))
	}
	if diff := cmp.Diff([]string{"", "2", "3"}, pages); diff != "" {
		t.Errorf("pages read (-want +got):\n%s", diff)
	}
}

func TestIsApproval(t *testing.T) {
	tests := []struct {
		body string
		want bool
	}{
		{"approved", true},
		{"Approved!", true},
		{"APPROVED for fozzie", true},
		{"  \n\tapproved.", true},
		{"approved\nthanks", true},
		{"Approved-ish", true}, // a hyphen ends a word
		{"approvedish", false},
		{"approved_by_me", false},
		{"approved2", false},
		{"not approved", false},
		{"> approved", false},
		{"approve", false},
		{"", false},
		{"LGTM", false},
		{statusMarker + "\napproved", false},
		{partMarker(2) + "\napproved", false},
	}
	for _, tt := range tests {
		if got := IsApproval(tt.body); got != tt.want {
			t.Errorf("IsApproval(%q) = %v, want %v", tt.body, got, tt.want)
		}
	}
}

func TestCommitOf(t *testing.T) {
	sha256 := sha + "0123456789abcdef01234567"
	tests := []struct {
		body   string
		want   string
		wantOK bool
	}{
		{commitMarker(sha) + "\nreview", sha, true},
		{commitMarker(sha256) + "\n", sha256, true},
		{"review\n" + commitMarker(sha), "", false}, // not at the start
		{"<!-- balcony:commit:0123456 -->", "", false},
		{"<!-- balcony:commit:" + sha, "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		got, ok := CommitOf(tt.body)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("CommitOf(%.40q) = %q, %v; want %q, %v", tt.body, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestTeamMembersEveryPage(t *testing.T) {
	f := githubtest.New(t)
	f.SetPageSize(2)
	f.SetTeam("muppets", "ops", "Kermit", "statler", "WALDORF", "fozzie", "animal")
	got, err := newClient(t, f).TeamMembers(context.Background(), "muppets", "ops")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"kermit", "statler", "waldorf", "fozzie", "animal"}, got); diff != "" {
		t.Errorf("members (-want +got):\n%s", diff)
	}
	if n := len(f.TakeCalls()); n != 3 {
		t.Errorf("%d pages read, want 3", n)
	}
	if _, err := newClient(t, f).TeamMembers(context.Background(), "muppets", "ghosts"); err == nil {
		t.Error("unknown team: no error")
	}
}
