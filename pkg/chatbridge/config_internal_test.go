package chatbridge

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/balcony-dev/balcony/pkg/chat"
	"github.com/balcony-dev/balcony/pkg/daemon"
)

// The shipped example is a valid configuration.
func TestExampleConfig(t *testing.T) {
	var c Config
	if err := daemon.LoadYAML(filepath.Join("..", "..", "examples", "chatbridge.yaml"), &c); err != nil {
		t.Fatal(err)
	}
	if err := c.validate(); err != nil {
		t.Fatal(err)
	}
	if c.Trust != chat.TrustAccount || c.People["statler"].Nick != "statler" || c.Coalesce != 2*time.Second {
		t.Errorf("example read as %+v", c)
	}
}

func TestConfigRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    Config
		want string
	}{
		{"no port", Config{Server: "irc.example.com", Channels: []string{"#a"}}, "want host:port"},
		{"no channel", Config{Server: "irc:6667"}, "channels: none"},
		{"not a channel", Config{Server: "irc:6667", Channels: []string{"ops"}}, "want #name"},
		{"unknown trust", Config{Server: "irc:6667", Channels: []string{"#a"}, Trust: "nicks"}, "trust mode"},
		{"person without a nick", Config{Server: "irc:6667", Channels: []string{"#a"}, People: chat.People{"kermit": {}}}, "want a login with a nick"},
		{"half SASL", Config{Server: "irc:6667", Channels: []string{"#a"}, SASLUser: "x"}, "go together"},
	} {
		if err := tc.c.validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}
