// Package ircdtest starts a real IRC server (ngircd) for tests, and
// connects real IRC clients (girc) to it that record what they read.
package ircdtest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lrstanley/girc"

	"github.com/balcony-dev/balcony/pkg/bus/bustest"
)

// Binary is where Debian's ngircd package installs the server.
const Binary = "/usr/sbin/ngircd"

// Require installs ngircd when missing and the test runs as root with
// apt-get; otherwise it skips outside CI and fails in CI (.ci/run
// installs it).
func Require(t testing.TB) string {
	t.Helper()
	if _, err := os.Stat(Binary); err == nil {
		return Binary
	}
	if _, err := exec.LookPath("apt-get"); err == nil && os.Geteuid() == 0 {
		out, err := exec.Command("sh", "-c", "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ngircd || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ngircd)").CombinedOutput()
		if err == nil {
			// The package starts a system-wide server on 6667: not ours.
			_ = exec.Command("sh", "-c", "service ngircd stop || systemctl stop ngircd").Run()
			return Binary
		}
		t.Logf("apt-get install ngircd: %v\n%s", err, out)
	}
	if os.Getenv("CI") != "" {
		t.Fatal("ngircd is not installed (.ci/run installs it)")
	}
	t.Skip("ngircd is not installed (apt-get install ngircd)")
	return ""
}

// Server is a running ngircd.
type Server struct {
	// Addr is host:port of its client port.
	Addr string
	cmd  *exec.Cmd
	done chan struct{}
	log  string
}

// Start runs ngircd on a free loopback port, with channels pre-defined
// (+n: only members speak in them), until the test ends.
func Start(t testing.TB, channels ...string) *Server {
	t.Helper()
	bin := Require(t)
	dir := t.TempDir()
	port := freePort(t)
	var conf strings.Builder
	fmt.Fprintf(&conf, `[Global]
	Name = irc.balcony.test
	Info = balcony test server
	Listen = 127.0.0.1
	Ports = %d
	PidFile = %s
	MotdPhrase = balcony test
[Limits]
	MaxConnectionsIP = 0
	PingTimeout = 120
	PongTimeout = 60
[Options]
	PAM = no
	Ident = no
	DNS = no
	SyslogFacility = local7
`, port, filepath.Join(dir, "ngircd.pid"))
	for _, ch := range channels {
		fmt.Fprintf(&conf, "[Channel]\n\tName = %s\n\tModes = +n\n", ch)
	}
	path := filepath.Join(dir, "ngircd.conf")
	if err := os.WriteFile(path, []byte(conf.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "ngircd.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--nodaemon", "--config", path)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &Server{Addr: fmt.Sprintf("127.0.0.1:%d", port), cmd: cmd, done: make(chan struct{}), log: logPath}
	go func() { _ = cmd.Wait(); logf.Close(); close(s.done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-s.done
		if t.Failed() {
			data, _ := os.ReadFile(logPath)
			t.Logf("--- ngircd log ---\n%s", tail(string(data), 4096))
		}
	})
	bustest.Eventually(t, 10*time.Second, "ngircd listening on "+s.Addr, func() bool {
		c, err := net.DialTimeout("tcp", s.Addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return s
}

// Line is a PRIVMSG a client read.
type Line struct {
	From, To, Text string
}

// Client is a real IRC client in the test's channels.
type Client struct {
	Nick string
	irc  *girc.Client
	mu   sync.Mutex
	read []Line
	in   map[string]bool
	nick map[string]bool // nicks seen joining
}

// Connect connects nick to s and joins channels, waiting until it is in.
func Connect(t testing.TB, s *Server, nick string, channels ...string) *Client {
	t.Helper()
	host, port, _ := net.SplitHostPort(s.Addr)
	var p int
	fmt.Sscan(port, &p)
	c := &Client{Nick: nick, in: map[string]bool{}, nick: map[string]bool{}}
	c.irc = girc.New(girc.Config{Server: host, Port: p, Nick: nick, User: nick, Name: nick, AllowFlood: true, PingDelay: -1})
	c.irc.Handlers.Add(girc.CONNECTED, func(cl *girc.Client, _ girc.Event) { cl.Cmd.Join(channels...) })
	c.irc.Handlers.Add(girc.JOIN, func(cl *girc.Client, e girc.Event) {
		if e.Source == nil || len(e.Params) == 0 {
			return
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		if e.Source.Name == cl.GetNick() {
			c.in[e.Params[0]] = true
		}
		c.nick[e.Source.Name] = true
	})
	c.irc.Handlers.Add(girc.PRIVMSG, func(_ *girc.Client, e girc.Event) {
		if e.Source == nil || len(e.Params) == 0 {
			return
		}
		c.mu.Lock()
		c.read = append(c.read, Line{From: e.Source.Name, To: e.Params[0], Text: e.Last()})
		c.mu.Unlock()
	})
	done := make(chan struct{})
	go func() { defer close(done); _ = c.irc.Connect() }()
	t.Cleanup(func() { c.irc.Close(); <-done })
	bustest.Eventually(t, 10*time.Second, nick+" in "+strings.Join(channels, ", "), func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, ch := range channels {
			if !c.in[ch] {
				return false
			}
		}
		return true
	})
	return c
}

// Say sends text to target (a channel or a nick).
func (c *Client) Say(target, text string) { c.irc.Cmd.Message(target, text) }

// Lines are the PRIVMSGs read so far from nick ("" for anyone).
func (c *Client) Lines(from string) []Line {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []Line
	for _, l := range c.read {
		if from == "" || l.From == from {
			out = append(out, l)
		}
	}
	return out
}

// Joined tells whether nick was seen joining one of the channels.
func (c *Client) Joined(nick string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nick[nick]
}

// WaitLine waits up to timeout for a line from from satisfying match,
// and returns it.
func (c *Client) WaitLine(t testing.TB, timeout time.Duration, from, what string, match func(Line) bool) Line {
	t.Helper()
	var got Line
	bustest.Eventually(t, timeout, what, func() bool {
		for _, l := range c.Lines(from) {
			if match(l) {
				got = l
				return true
			}
		}
		return false
	})
	return got
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
