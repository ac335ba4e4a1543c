package testnet

import (
	"io"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The testnet's page listens on localhost: a Host that is not localhost
// (a DNS-rebinding page) is refused with the reason; localhost is served.
func TestDashboardRefusesAForeignHost(t *testing.T) {
	d, err := ServeDashboard("127.0.0.1:0", func() NetStatus { return NetStatus{ChainID: "host-test"} })
	require.NoError(t, err)
	defer d.Close()
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	for host, want := range map[string]int{"evil.example": http.StatusMisdirectedRequest, "": http.StatusOK, "localhost": http.StatusOK} {
		req, err := http.NewRequest(http.MethodGet, d.URL(), nil)
		require.NoError(t, err)
		if host != "" {
			req.Host = host
		}
		resp, err := client.Do(req)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, want, resp.StatusCode, "Host %q: %s", host, body)
	}
}
