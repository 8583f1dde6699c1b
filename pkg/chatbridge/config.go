package chatbridge

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/balcony-dev/balcony/pkg/chat"
)

// Config is the bridge's YAML configuration file.
type Config struct {
	// Server is the IRC server, host:port.
	Server string `yaml:"server"`
	// TLS connects with TLS; TLSCA is a PEM file of CAs to trust instead
	// of the system's.
	TLS   bool   `yaml:"tls"`
	TLSCA string `yaml:"tls_ca"`
	// Nick is the bridge's nick (and user name); Name its real name.
	Nick string `yaml:"nick"`
	Name string `yaml:"name"`
	// PasswordFile holds the server password (PASS), if the server wants
	// one.
	PasswordFile string `yaml:"password_file"`
	// SASLUser and SASLPasswordFile log the bridge in to services with
	// SASL PLAIN, when set.
	SASLUser         string `yaml:"sasl_user"`
	SASLPasswordFile string `yaml:"sasl_password_file"`
	// Channels are joined and announced to ("#ops", or "#ops key").
	Channels []string `yaml:"channels"`
	// Trust is chat.TrustStatic or chat.TrustAccount (docs/security.md).
	Trust string `yaml:"trust"`
	// People maps logins to their nicks and services accounts.
	People chat.People `yaml:"people"`
	// Coalesce is how long an event waits for others of its type and
	// commit to share its line (default 2s); ProgressEvery spaces a
	// commit's progress lines (default 10s).
	Coalesce      time.Duration `yaml:"coalesce"`
	ProgressEvery time.Duration `yaml:"progress_every"`
}

// validate checks c and fills its defaults.
func (c *Config) validate() error {
	host, port, err := net.SplitHostPort(c.Server)
	if err != nil || host == "" {
		return fmt.Errorf("server %q: want host:port", c.Server)
	}
	if _, err := strconv.Atoi(port); err != nil {
		return fmt.Errorf("server %q: port: %w", c.Server, err)
	}
	if c.Nick == "" {
		c.Nick = "balcony"
	}
	if c.Name == "" {
		c.Name = "balcony chat bridge"
	}
	if len(c.Channels) == 0 {
		return fmt.Errorf("channels: none configured")
	}
	for _, ch := range c.Channels {
		if !strings.HasPrefix(ch, "#") && !strings.HasPrefix(ch, "&") {
			return fmt.Errorf("channel %q: want #name", ch)
		}
	}
	if c.Trust == "" {
		c.Trust = chat.TrustAccount
	}
	if err := chat.ValidMode(c.Trust); err != nil {
		return err
	}
	for login, p := range c.People {
		if login == "" || p.Nick == "" {
			return fmt.Errorf("people: %q: want a login with a nick", login)
		}
	}
	if c.Coalesce <= 0 {
		c.Coalesce = 2 * time.Second
	}
	if c.ProgressEvery <= 0 {
		c.ProgressEvery = 10 * time.Second
	}
	if (c.SASLUser == "") != (c.SASLPasswordFile == "") {
		return fmt.Errorf("sasl_user and sasl_password_file go together")
	}
	return nil
}

// hostPort splits Server (validated).
func (c *Config) hostPort() (string, int) {
	host, port, _ := net.SplitHostPort(c.Server)
	p, _ := strconv.Atoi(port)
	return host, p
}

// secret reads a password file, "" for no file.
func secret(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// channelName is a configured channel without its key.
func channelName(ch string) string {
	name, _, _ := strings.Cut(ch, " ")
	return name
}
