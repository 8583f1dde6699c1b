package version

import (
	"runtime/debug"
	"testing"
)

func TestResolve(t *testing.T) {
	build := func(main string, settings ...string) *debug.BuildInfo {
		info := &debug.BuildInfo{Main: debug.Module{Path: "github.com/balcony-dev/balcony", Version: main}}
		for i := 0; i+1 < len(settings); i += 2 {
			info.Settings = append(info.Settings, debug.BuildSetting{Key: settings[i], Value: settings[i+1]})
		}
		return info
	}
	tests := []struct {
		name    string
		stamped string
		info    *debug.BuildInfo
		want    string
	}{
		{"stamped", "1.2.3", build("(devel)"), "1.2.3"},
		{"stamped with a v", "v1.2.3", nil, "1.2.3"},
		{"stamped by git describe", "v1.2.3-4-g0123abcdef-dirty", nil, "1.2.3-4-g0123abcdef-dirty"},
		{"stamped, not SemVer", "0123abc/dirty", nil, "0.0.0+0123abc.dirty"},
		{"stamped wins over the module", "2.0.0", build("v1.0.0"), "2.0.0"},
		{"module tag", "", build("v1.4.0"), "1.4.0"},
		{"module pseudo-version", "", build("v0.0.0-20260101120000-0123456789ab+dirty"), "0.0.0-20260101120000-0123456789ab+dirty"},
		{"revision", "", build("(devel)", "vcs.revision", "0123456789abcdef0123", "vcs.modified", "false"), "0.0.0-dev+0123456789ab"},
		{"modified revision", "", build("(devel)", "vcs.revision", "0123456789abcdef0123", "vcs.modified", "true"), "0.0.0-dev+0123456789ab.dirty"},
		{"nothing known", "", build("(devel)"), "0.0.0-dev"},
		{"no build information", "", nil, "0.0.0-dev"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := resolve(tt.stamped, tt.info)
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
			if !semVer.MatchString(got) {
				t.Errorf("%q is not SemVer", got)
			}
		})
	}
}

// The binary's own version is SemVer whatever the build says.
func TestString(t *testing.T) {
	for _, stamped := range []string{"", "v0.3.0", "garbage version!"} {
		Version = stamped
		if got := String(); !semVer.MatchString(got) {
			t.Errorf("Version %q: String %q is not SemVer", stamped, got)
		}
	}
	Version = ""
}
