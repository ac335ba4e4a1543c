package node

import (
	"net"
	"net/http"
)

// hostGuard wraps the handler of a listener on a loopback address: a request
// whose Host header is not a loopback name or address is refused. A browser
// tricked by DNS rebinding (evil.example resolving to 127.0.0.1) still sends
// Host: evil.example, so pages cannot read or drive a local node's API.
// Other listeners (a unix socket, a public address) are served as they are.
func hostGuard(l net.Listener, h http.Handler) http.Handler {
	addr, ok := l.Addr().(*net.TCPAddr)
	if !ok || !addr.IP.IsLoopback() {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !loopbackHost(r.Host) {
			http.Error(w, "host "+r.Host+" is not this node's loopback address: refused (DNS rebinding guard)", http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// loopbackHost reports whether a Host header names the loopback interface.
func loopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	} else if len(host) > 1 && host[0] == '[' && host[len(host)-1] == ']' {
		host = host[1 : len(host)-1]
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
