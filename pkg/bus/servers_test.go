package bus_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/balcony-dev/balcony/pkg/bus"
)

// A daemon given every server of a cluster connects to whichever answers.
func TestConnectToTheServerThatAnswers(t *testing.T) {
	dead := "nats://" + freeAddr(t)
	live := embedded(t, t.TempDir(), "127.0.0.1:0")
	t.Cleanup(live.Close)
	for _, urls := range []string{dead + "," + live.URL(), live.URL() + ", " + dead} {
		cl, err := bus.Connect(context.Background(), bus.Options{URL: urls, Name: t.Name(), Log: zerolog.Nop()})
		if err != nil {
			t.Fatalf("connect to %s: %v", urls, err)
		}
		got := cl.NC.ConnectedUrl()
		servers := cl.NC.Servers()
		cl.Close()
		if got != live.URL() {
			t.Errorf("%s: connected to %s, want %s", urls, got, live.URL())
		}
		if !slices.Contains(servers, dead) || !slices.Contains(servers, live.URL()) {
			t.Errorf("%s: the client knows the servers %v, want both", urls, servers)
		}
	}
}

// The client moves to another server of its list when its own goes away,
// and back again when that one goes too: it reconnects forever across all
// of them, telling OnReconnect each time.
func TestReconnectAcrossTheServersGiven(t *testing.T) {
	dirs := []string{t.TempDir(), t.TempDir()}
	servers := []*bus.Conn{embedded(t, dirs[0], "127.0.0.1:0"), embedded(t, dirs[1], "127.0.0.1:0")}
	t.Cleanup(func() {
		for _, s := range servers {
			if s != nil {
				s.Close()
			}
		}
	})
	listen := []string{strings.TrimPrefix(servers[0].URL(), "nats://"), strings.TrimPrefix(servers[1].URL(), "nats://")}
	cl, err := bus.Connect(context.Background(), bus.Options{URL: servers[0].URL() + "," + servers[1].URL(), Name: t.Name(), Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	reconnected := make(chan struct{}, 4)
	cl.OnReconnect(func() { reconnected <- struct{}{} })

	on := slices.Index([]string{servers[0].URL(), servers[1].URL()}, cl.NC.ConnectedUrl())
	if on < 0 {
		t.Fatalf("connected to %s, none of the servers given", cl.NC.ConnectedUrl())
	}
	for hop := range 2 {
		other := 1 - on
		if servers[other] == nil {
			// The one left before comes back, on its address and data.
			servers[other] = embedded(t, dirs[other], listen[other])
		}
		servers[on].Close()
		servers[on] = nil
		select {
		case <-reconnected:
		case <-time.After(time.Minute):
			t.Fatalf("hop %d: not reconnected a minute after the server went away", hop)
		}
		if got, want := cl.NC.ConnectedUrl(), "nats://"+listen[other]; got != want {
			t.Fatalf("hop %d: reconnected to %s, want %s", hop, got, want)
		}
		// The connection works there: JetStream answers.
		if _, err := cl.JS.Stream(context.Background(), "COMMITS"); err != nil {
			t.Fatalf("hop %d: %v", hop, err)
		}
		on = other
	}
}
