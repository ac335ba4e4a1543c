package testutil

import (
	mrand "math/rand/v2"
	"net"
	"strconv"
	"testing"
)

// FreePort returns a loopback TCP port that nothing listens on now, for a
// node that binds it later (and perhaps again after a restart, as CometBFT
// peers are configured by port). It comes from below Linux's default
// ephemeral range (32768 up): a port from a listener on port 0 comes from
// that range, and an outgoing connection, another node's or another test's,
// can take it as its source port while the node is down, and the node's
// bind then fails with "address already in use".
func FreePort(t testing.TB) int {
	t.Helper()
	const low, high = 10000, 32768
	for range 200 {
		port := low + mrand.IntN(high-low)
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue // in use
		}
		l.Close()
		return port
	}
	t.Fatalf("no free loopback port between %d and %d in 200 tries", low, high)
	return 0
}
