package chatbridge_test

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/balcony-dev/balcony/pkg/bus/bustest"
	"github.com/balcony-dev/balcony/pkg/chat"
	"github.com/balcony-dev/balcony/pkg/chatbridge"
	"github.com/balcony-dev/balcony/pkg/chatbridge/ircdtest"
	"github.com/balcony-dev/balcony/pkg/protocol"
)

// scriptedIRC is an IRC server offering account-tag, which ngircd does
// not: it registers the bridge, lets it join #ops, then says the lines
// of said there, and records what the bridge sends.
type scriptedIRC struct {
	addr string
	// drop closes the first connection once the bridge joined.
	drop bool
	mu   sync.Mutex
	sent []string
}

func (s *scriptedIRC) count(prefix string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, l := range s.sent {
		if strings.HasPrefix(l, prefix) {
			n++
		}
	}
	return n
}

func (s *scriptedIRC) got(prefix string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.sent {
		if strings.HasPrefix(l, prefix) {
			return true
		}
	}
	return false
}

func startScriptedIRC(t *testing.T, drop bool, said ...string) *scriptedIRC {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &scriptedIRC{addr: l.Addr().String(), drop: drop}
	first := true
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			dropThis := s.drop && first
			first = false
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer conn.Close()
				r := bufio.NewReader(conn)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					line = strings.TrimRight(line, "\r\n")
					s.mu.Lock()
					s.sent = append(s.sent, line)
					s.mu.Unlock()
					switch {
					case strings.HasPrefix(line, "CAP LS"):
						fmt.Fprint(conn, ":irc CAP * LS :account-tag\r\n")
					case strings.HasPrefix(line, "CAP REQ"):
						fmt.Fprintf(conn, ":irc CAP * ACK :%s\r\n", strings.TrimPrefix(line[strings.Index(line, "REQ")+4:], ":"))
					case line == "CAP END":
						fmt.Fprint(conn, ":irc 001 balcony :welcome\r\n")
					case strings.HasPrefix(line, "JOIN #ops"):
						fmt.Fprint(conn, ":balcony!b@h JOIN #ops\r\n")
						if dropThis {
							return // the connection lost
						}
						for _, l := range said {
							fmt.Fprint(conn, l+"\r\n")
						}
					case strings.HasPrefix(line, "PING "):
						fmt.Fprintf(conn, ":irc PONG irc :%s\r\n", strings.TrimPrefix(strings.TrimPrefix(line, "PING "), ":"))
					}
				}
			}()
		}
	}()
	return s
}

// In account mode the services account the server tags a message with
// decides: the mapped account speaks for its login whatever its nick, and
// a mapped nick with no account is refused.
func TestAccountTrust(t *testing.T) {
	c := bustest.Start(t)
	irc := startScriptedIRC(t, false,
		"@account=kermit :frog!k@h PRIVMSG #ops :balcony: approve 0123abcd",
		":kermit!g@h PRIVMSG #ops :balcony: approve 0123abcd")
	startBridge(t, c, &ircdtest.Server{Addr: irc.addr}, chatbridge.Config{Trust: chat.TrustAccount, People: chat.People{"kermit": {Nick: "kermit"}}})
	bustest.Eventually(t, 0, "the impostor refused", func() bool {
		return irc.got("PRIVMSG #ops :kermit: refused: not trusted: kermit is not logged in to services")
	})
	bustest.Eventually(t, 0, "the account's approval tried", func() bool {
		// No approver runs: the request went out as kermit.
		return irc.got("PRIVMSG #ops :frog: approve as kermit: no approver is running")
	})
}

// A lost connection is made again and the channels joined again; the
// events that came meanwhile are announced then.
func TestReconnects(t *testing.T) {
	c := bustest.Start(t)
	irc := startScriptedIRC(t, true)
	startBridge(t, c, &ircdtest.Server{Addr: irc.addr}, chatbridge.Config{Trust: chat.TrustStatic})
	bustest.Eventually(t, 0, "the first join", func() bool { return irc.count("JOIN #ops") >= 1 })
	announce(t, c, protocol.Event{Type: "noop.started", Commit: sha1, Data: map[string]any{"hosts": 2}})
	bustest.Eventually(t, 0, "the announcement after a rejoin", func() bool {
		return irc.count("JOIN #ops") == 2 && irc.got("PRIVMSG #ops :111111111111: nooping on 2 hosts")
	})
}
