package owners

import (
	"reflect"
	"testing"

	"github.com/balcony-dev/balcony/pkg/delta"
	"github.com/balcony-dev/balcony/pkg/report"
)

// fullGroup sets every field of a group, its resource and its event.
func fullGroup() delta.Group {
	return delta.Group{
		ID: "0123456789abcdef",
		Resource: report.Resource{
			ID: "File[/etc/motd]", Type: "File", Title: "/etc/motd", File: "modules/motd/manifests/init.pp", Line: 7,
			DefineType: "Motd::Line[one]", ContainmentPath: []string{"Stage[main]", "Motd", "Motd::Line[one]", "File[/etc/motd]"},
			Events: []report.Event{{Property: "content", Previous: "{md5}a", Desired: "{md5}b", Status: "noop", Message: "would change"}},
			Diff:   "--- /etc/motd\n+++ /etc/motd\n@@ -1 +1 @@\n-hi\n+hello\n", Logs: []string{"Would have triggered 'refresh' from 1 event"},
			Failed: true, ChangedDuringNoop: true,
		},
		Hosts:             []string{"statler.example.com", "waldorf.example.com"},
		ChangedDuringNoop: true,
	}
}

// TestGroupDigestGolden pins the digests of fixed groups: approvals stored
// with them must keep counting after any upgrade. The values are those of
// the encoding/json digest of these groups that approvals used before
// canonicalGroup, which writes the same bytes.
func TestGroupDigestGolden(t *testing.T) {
	minimal := delta.Group{ID: "a1", Resource: report.Resource{ID: "Notify[x]", Type: "Notify", Title: "x"}, Hosts: []string{"h"}}
	escapes := fullGroup()
	escapes.Resource.Title = "<a & b> \"q\" \\ \u2028\u2029 \t\x01 é 日本 \xff"
	escapes.Resource.Diff = "+<script>&amp;\n"
	escapes.Resource.Logs = []string{"tab\there", "bad \xc3\x28 utf8"}
	noHosts := minimal
	noHosts.Hosts = nil
	emptyLists := minimal
	emptyLists.Hosts = []string{}
	emptyLists.Resource.Events, emptyLists.Resource.Logs, emptyLists.Resource.ContainmentPath = []report.Event{}, []string{}, []string{}
	negativeLine := minimal
	negativeLine.Resource.Line = -2
	for _, c := range []struct {
		name string
		g    delta.Group
		want string
	}{
		{"minimal", minimal, "235d8b0beaf7eb13700224984a93f3869a522573d07521a76f7c78d92b030838"},
		{"full", fullGroup(), "d60e3ff8b0a00aad7c3a5cc0acae5d1efa3d5a505fabf9554f55048fc882d0e7"},
		{"escapes", escapes, "464b835c9bd4748a29cd28d02f288129633c1ae467475aaf6f32f162cdf460a4"},
		{"nil hosts", noHosts, "993c1b054ab6a37808fa68c683d16786d152ed1dc40230d0713587689004057b"},
		{"empty lists", emptyLists, "730ed5bfa100cec4de4a9c6fa3eb8e9e3e700d59ebe7808b0df62703ad0a0680"},
		{"negative line", negativeLine, "55a61f3b2fb8416d6e024ece5aede4ea935c5794d5c09ed48a2e0ac26b532ceb"},
		{"helper group", group("a1", "modules/motd/manifests/line.pp", "statler.example.com"), "279270f02069cf6318f877f84ee2e589bd2274105c811ddc654ef234e0d50e3a"},
	} {
		if got := GroupDigest(c.g); got != c.want {
			t.Errorf("%s: digest %s, want %s", c.name, got, c.want)
		}
	}
}

// digestFields are the fields canonicalGroup writes: changing one changes
// the digest. Any other field, such as one added later, must not.
var digestFields = map[string]bool{
	"delta.Group.ID": true, "delta.Group.Hosts": true, "delta.Group.ChangedDuringNoop": true,
	"report.Resource.ID": true, "report.Resource.Type": true, "report.Resource.Title": true,
	"report.Resource.File": true, "report.Resource.Line": true, "report.Resource.DefineType": true,
	"report.Resource.ContainmentPath": true, "report.Resource.Diff": true, "report.Resource.Logs": true,
	"report.Resource.Failed": true, "report.Resource.ChangedDuringNoop": true,
	"report.Event.Property": true, "report.Event.Previous": true, "report.Event.Desired": true,
	"report.Event.Status": true, "report.Event.Message": true,
}

// TestGroupDigestFields changes each field of a group, its resource and its
// event in turn: the digest changes exactly for the fields in digestFields.
// A field added to these structs (not written by canonicalGroup) leaves
// every digest, and so every approval, as it was.
func TestGroupDigestFields(t *testing.T) {
	base := fullGroup()
	want := GroupDigest(base)
	seen := map[string]bool{}
	var visit func(v reflect.Value)
	visit = func(v reflect.Value) {
		for i := range v.NumField() {
			f, fv := v.Type().Field(i), v.Field(i)
			if !f.IsExported() {
				continue
			}
			path := v.Type().String() + "." + f.Name
			switch {
			case f.Type.Kind() == reflect.Struct:
				visit(fv)
				continue
			case f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct:
				visit(fv.Index(0))
				continue
			}
			seen[path] = true
			old := reflect.ValueOf(fv.Interface())
			if !perturb(fv) {
				t.Errorf("%s: teach this test to change a %s", path, f.Type)
				continue
			}
			changed := GroupDigest(base) != want
			fv.Set(old)
			if changed != digestFields[path] {
				t.Errorf("changing %s changes the digest: %v, want %v", path, changed, digestFields[path])
			}
		}
	}
	visit(reflect.ValueOf(&base).Elem())
	if GroupDigest(base) != want {
		t.Fatal("the test did not restore the group")
	}
	for path := range digestFields {
		if !seen[path] {
			t.Errorf("%s is in digestFields but no such field exists", path)
		}
	}
}

// perturb sets v to another value of its type; false when it cannot.
func perturb(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.String:
		v.SetString(v.String() + "!")
	case reflect.Bool:
		v.SetBool(!v.Bool())
	case reflect.Int, reflect.Int64, reflect.Int32:
		v.SetInt(v.Int() + 1)
	case reflect.Float64, reflect.Float32:
		v.SetFloat(v.Float() + 1)
	case reflect.Slice:
		if v.Type().Elem().Kind() != reflect.String {
			return false
		}
		// A new slice: the saved old value shares the old backing array.
		v.Set(reflect.Append(reflect.AppendSlice(reflect.MakeSlice(v.Type(), 0, v.Len()+1), v), reflect.ValueOf("!")))
	default:
		return false
	}
	return true
}
