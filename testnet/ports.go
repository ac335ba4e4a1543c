package testnet

import (
	"fmt"
	mrand "math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
)

// portPicker finds ports for nodes to listen on later. The ports come from
// below the kernel's ephemeral range: the ports it hands out by itself (to
// listeners on port 0 and to outgoing connections, such as the nodes'
// dials to each other, or another test's) come from that range, and one of
// them could take a port between this check and the node's bind. A port is
// never handed out twice.
type portPicker struct {
	low   int // the first ephemeral port
	taken map[int]bool
}

// lowestPort is the bottom of the range ports are picked from.
const lowestPort = 10000

func newPortPicker() *portPicker {
	low := 32768 // Linux's default
	if data, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(data)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil && n > lowestPort+1000 {
				low = n
			}
		}
	}
	return &portPicker{low: low, taken: map[int]bool{}}
}

// free returns a port that nothing listens on at host now.
func (p *portPicker) free(host string) (int, error) {
	for range 200 {
		port := lowestPort + mrand.IntN(p.low-lowestPort)
		if p.taken[port] {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			continue // in use
		}
		l.Close()
		p.taken[port] = true
		return port, nil
	}
	// The low range is crowded: let the kernel choose.
	for range 10 {
		l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if !p.taken[port] {
			p.taken[port] = true
			return port, nil
		}
	}
	return 0, fmt.Errorf("no free port on %s", host)
}
