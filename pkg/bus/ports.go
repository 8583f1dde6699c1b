package bus

import (
	"errors"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
)

// FreeRoutePort is a loopback port nobody listens on, for the servers of
// a cluster on one machine (tests, the fleet benchmark), below the range the
// kernel picks outgoing ports from: a port of that range, free a moment
// ago, can be taken as the source port of one node's route connection
// before the node meant to listen on it starts.
func FreeRoutePort() (int, error) {
	low := 32768
	if data, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(data)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil {
				low = n
			}
		}
	}
	base := max(low-12000, 1024)
	for range 1000 {
		port := base + rand.IntN(low-base)
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err == nil {
			l.Close()
			return port, nil
		}
	}
	return 0, errors.New("no free loopback port for a cluster route")
}

// FreeRoutePorts is n distinct free ports (FreeRoutePort each). Each pick
// is free only until someone binds it, and nothing binds it until the
// cluster starts: two picks for one cluster can be the same port, and the
// second node to listen on it dies with "address already in use".
func FreeRoutePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	seen := make(map[int]bool, n)
	for len(ports) < n {
		port, err := FreeRoutePort()
		if err != nil {
			return nil, err
		}
		if !seen[port] {
			seen[port] = true
			ports = append(ports, port)
		}
	}
	return ports, nil
}
