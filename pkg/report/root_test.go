package report

import "testing"

func TestStripRoot(t *testing.T) {
	r := &Report{
		Errors: []string{"could not write /tmp/h1/etc/x"},
		Resources: []Resource{{
			ID: "File[/tmp/h1/etc/motd]", Title: "/tmp/h1/etc/motd",
			ContainmentPath: []string{"Stage[main]", "File[/tmp/h1/etc/motd]"},
			Diff:            "--- /tmp/h1/etc/motd\n+++ /tmp/h1/etc/motd\n",
			Events:          []Event{{Property: "ensure", Previous: "absent", Desired: "file", Message: "created /tmp/h1/etc/motd"}},
			Logs:            []string{"/tmp/h1/etc/motd changed"},
		}},
	}
	r.StripRoot("/tmp/h1/")
	res := r.Resources[0]
	for _, got := range []string{r.Errors[0], res.ID, res.Title, res.ContainmentPath[1], res.Diff, res.Events[0].Message, res.Logs[0]} {
		if want := "/tmp/h1"; contains(got, want) {
			t.Errorf("%q still holds the root", got)
		}
	}
	if res.ID != "File[/etc/motd]" {
		t.Errorf("ID %q, want File[/etc/motd]", res.ID)
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}
