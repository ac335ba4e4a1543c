package node

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"golang.org/x/time/rate"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/internal/testutil"
	"github.com/quorumgate/quorumgate/quorum"
)

func TestLoopbackHost(t *testing.T) {
	for _, h := range []string{"localhost", "localhost:8080", "127.0.0.1", "127.0.0.1:1", "[::1]", "[::1]:9000"} {
		assert.True(t, loopbackHost(h), "%q", h)
	}
	for _, h := range []string{"", "evil.example", "evil.example:8080", "127.0.0.1.evil.example", "localhost.evil.example:80",
		"127.0.0.2", "10.0.0.1:80", "[::2]:80", "localhost:", "localhost:http", "0.0.0.0:80", "[::1"} {
		assert.False(t, loopbackHost(h), "%q", h)
	}
}

// serveTest runs newAPIServer on a fresh 127.0.0.1 listener until the test ends.
func serveTest(t *testing.T, timeouts apiTimeouts) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := newAPIServer(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") }), timeouts)
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(l) }()
	t.Cleanup(func() { srv.Close(); <-done })
	return l.Addr().String()
}

// closedByServer reads from c until the server closes it; a read that times
// out (the server kept the connection) fails the test.
func closedByServer(t *testing.T, c net.Conn, r io.Reader, what string) {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(20*time.Second)))
	_, err := io.Copy(io.Discard, r)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("%s: the server kept the connection open", what)
	}
}

// A client that never finishes its request headers, and one that keeps an
// idle keep-alive connection, are both cut off by the server.
func TestAPIServerTimeouts(t *testing.T) {
	before := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, before) }) // after serveTest's cleanup
	addr := serveTest(t, apiTimeouts{ReadHeader: 100 * time.Millisecond, Read: 200 * time.Millisecond, Write: time.Second, Idle: 150 * time.Millisecond})

	slow, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer slow.Close()
	_, err = io.WriteString(slow, "GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\n") // and never the blank line
	require.NoError(t, err)
	closedByServer(t, slow, slow, "unfinished headers")

	idle, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer idle.Close()
	_, err = io.WriteString(idle, "GET /livez HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
	require.NoError(t, err)
	br := bufio.NewReader(idle)
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.False(t, resp.Close, "the connection was meant to stay open for keep-alive")
	closedByServer(t, idle, br, "idle keep-alive connection")
}

// The defaults bound everything: no zero (unbounded) timeout.
func TestAPITimeoutDefaultsAreSet(t *testing.T) {
	for name, d := range map[string]time.Duration{"ReadHeader": defaultAPITimeouts.ReadHeader, "Read": defaultAPITimeouts.Read,
		"Write": defaultAPITimeouts.Write, "Idle": defaultAPITimeouts.Idle} {
		assert.Positive(t, d, name)
	}
}

func apiAddr(t *testing.T, home string) string {
	t.Helper()
	var addrs APIAddrs
	data, err := os.ReadFile(filepath.Join(home, APIAddrFile))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data, &addrs))
	return addrs.API
}

func get(t *testing.T, client *http.Client, url, host string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	if host != "" {
		req.Host = host
	}
	resp, err := client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(body), resp.Header
}

// The node's API on 127.0.0.1 answers only loopback Host headers, caches
// answers about the past, and replays for one caller at a time.
func TestAPIHostCheckAndHistoryQueries(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	home := t.TempDir()
	n, propose := startSolo(t, func(c *Config) { c.Home, c.APIListen = home, "127.0.0.1:0" })
	defer func() { assert.NoError(t, n.Close()) }()
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	base := "http://" + apiAddr(t, home)
	_, port, err := net.SplitHostPort(apiAddr(t, home))
	require.NoError(t, err)

	// DNS rebinding: evil.example resolving to 127.0.0.1 is refused.
	for _, host := range []string{"evil.example", "evil.example:" + port, "127.0.0.1.nip.io:" + port} {
		code, body, _ := get(t, client, base+"/status", host)
		assert.Equal(t, http.StatusMisdirectedRequest, code, host)
		assert.Contains(t, body, "DNS rebinding", host)
	}
	for _, host := range []string{"", "localhost:" + port, "[::1]:" + port} {
		code, _, _ := get(t, client, base+"/livez", host)
		assert.Equal(t, http.StatusOK, code, host)
	}

	// A stake deployment that locks in on the node's own readiness.
	testutil.Eventually(t, 10*time.Second, "the first blocks", func() bool { h, _, ok := n.Head().Head(); return ok && h > 2 })
	_, view, _ := n.Head().Head()
	epoch := n.Head().Params().Epoch(view)
	propose(activation.Proposal{Name: "c11", Component: "cadence", Version: "1.1.0", Mode: activation.Stake,
		Threshold: quorum.TwoThirds, StartEpoch: epoch, TimeoutEpoch: epoch + 20})
	testutil.Eventually(t, 20*time.Second, "c11 ACTIVE", func() bool {
		d, ok := n.Head().Deployment("c11")
		return ok && d.Status == activation.Active
	})

	code, first, _ := get(t, client, base+"/readiness?deployment=c11&at=lock-in", "")
	require.Equal(t, http.StatusOK, code, first)
	replays := n.history.replays.Load()
	require.Positive(t, replays, "finding the lock-in block replays history")
	for range 20 {
		code, again, _ := get(t, client, base+"/readiness?deployment=c11&at=lock-in", "")
		require.Equal(t, http.StatusOK, code)
		assert.Equal(t, first, again)
	}
	assert.Equal(t, replays, n.history.replays.Load(), "a repeated lock-in query replayed again")

	// While another replay holds the turn, an uncached question about the
	// past is told to retry; a cached one is still answered.
	var lock ReadinessReport
	require.NoError(t, json.Unmarshal([]byte(first), &lock))
	n.history.wait.Store(int64(50 * time.Millisecond))
	n.history.turn <- struct{}{}
	code, body, hdr := get(t, client, base+"/readiness?deployment=c11&height="+strconv.FormatUint(lock.Height-1, 10), "")
	assert.Equal(t, http.StatusServiceUnavailable, code, body)
	assert.Equal(t, "1", hdr.Get("Retry-After"))
	assert.Contains(t, body, "retry")
	code, _, _ = get(t, client, base+"/readiness?deployment=c11&at=lock-in", "")
	assert.Equal(t, http.StatusOK, code, "a cached answer waits for no turn")
	<-n.history.turn
	code, body, _ = get(t, client, base+"/readiness?deployment=c11&height="+strconv.FormatUint(lock.Height-1, 10), "")
	assert.Equal(t, http.StatusOK, code, body)
	var before ReadinessReport
	require.NoError(t, json.Unmarshal([]byte(body), &before))
	assert.Equal(t, "STARTED", before.State)

	// Uncached questions come at a bounded rate: over it, retry.
	n.history.rate.SetLimit(rate.Every(time.Hour))
	n.history.rate.SetBurst(1)
	code, _, _ = get(t, client, base+"/readiness?deployment=c11&height="+strconv.FormatUint(lock.Height+1, 10), "")
	assert.Equal(t, http.StatusOK, code, "the burst")
	code, body, hdr = get(t, client, base+"/readiness?deployment=c11&height="+strconv.FormatUint(lock.Height+2, 10), "")
	assert.Equal(t, http.StatusServiceUnavailable, code, body)
	assert.Equal(t, "1", hdr.Get("Retry-After"))
	code, _, _ = get(t, client, base+"/readiness?deployment=c11&height="+strconv.FormatUint(lock.Height+1, 10), "")
	assert.Equal(t, http.StatusOK, code, "a cached answer takes nothing from the rate")
}

// A unix socket an earlier run left behind is replaced; any other file at
// the path is an error that names it, and the file is kept.
func TestListenUnixReplacesOnlyASocket(t *testing.T) {
	dir, err := os.MkdirTemp("", "qg") // short: a socket path has a length limit
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })

	stale := filepath.Join(dir, "stale.sock")
	old, err := net.Listen("unix", stale)
	require.NoError(t, err)
	old.(*net.UnixListener).SetUnlinkOnClose(false) // as after a crash
	require.NoError(t, old.Close())
	l, err := listen("unix:" + stale)
	require.NoError(t, err, "the stale socket is replaced")
	require.NoError(t, l.Close())

	config := filepath.Join(dir, "config.toml")
	require.NoError(t, os.WriteFile(config, []byte("keep me\n"), 0o600))
	_, err = listen("unix:" + config)
	require.Error(t, err)
	assert.Contains(t, err.Error(), config)
	assert.Contains(t, err.Error(), "not a socket")
	data, err := os.ReadFile(config)
	require.NoError(t, err)
	assert.Equal(t, "keep me\n", string(data), "the operator's file is untouched")
}

// A value that cannot be encoded is a 500 that says so, not a 200 with a
// cut-off body.
func TestWriteJSONEncodesBeforeItAnswers(t *testing.T) {
	rec := httptest.NewRecorder()
	writeJSON(rec, map[string]float64{"ratio": math.NaN()})
	assert.Equal(t, http.StatusInternalServerError, rec.Code)
	assert.Contains(t, rec.Body.String(), "encode the answer: json: unsupported value: NaN")

	rec = httptest.NewRecorder()
	writeJSON(rec, map[string]int{"a": 1})
	assert.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
	assert.Equal(t, "{\n  \"a\": 1\n}\n", rec.Body.String())
}

// When its owner stops, a server gives a request in flight the grace and
// then closes its connection: a handler that never returns holds no client.
func TestRunServerClosesHungRequestsAfterTheGrace(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	entered, release := make(chan struct{}), make(chan struct{})
	defer close(release)
	hung := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
	})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var logs testutil.SyncBuffer
	runServer(ctx, &wg, slog.New(slog.NewTextHandler(&logs, nil)), NewHTTPServer(l, hung), l, 50*time.Millisecond)

	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	answered := make(chan error, 1)
	go func() {
		resp, err := client.Get("http://" + l.Addr().String() + "/")
		if err == nil {
			resp.Body.Close()
		}
		answered <- err
	}()
	<-entered
	cancel()
	select {
	case err := <-answered:
		assert.Error(t, err, "the connection was closed under the hung request")
	case <-time.After(10 * time.Second):
		t.Fatal("the client still waits: the hung request's connection was kept")
	}
	wg.Wait()
	assert.Contains(t, logs.String(), "API requests still running at shutdown")
}

// A server whose listener fails says so in the node's log.
func TestRunServerLogsWhenServingFails(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	require.NoError(t, l.Close()) // Serve's first Accept fails
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var logs testutil.SyncBuffer
	runServer(ctx, &wg, slog.New(slog.NewTextHandler(&logs, nil)), NewHTTPServer(l, http.NotFoundHandler()), l, time.Second)
	defer wg.Wait()
	defer cancel()
	testutil.Eventually(t, 10*time.Second, "the failure is logged", func() bool {
		return strings.Contains(logs.String(), "an API stopped serving")
	})
	assert.Contains(t, logs.String(), "use of closed network connection")
}

// An error reply quotes at most 64 bytes of a bad request value, with an
// ellipsis and the value's length: 900 KB in is not 900 KB out. Every
// endpoint that echoes a value goes through the one helper.
func TestErrorRepliesQuoteABoundedValue(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	home := t.TempDir()
	n, _ := startSolo(t, func(c *Config) { c.Home, c.APIListen = home, "127.0.0.1:0" })
	defer func() { assert.NoError(t, n.Close()) }()
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	base := "http://" + apiAddr(t, home)
	huge := strings.Repeat("x", 900_000)
	for _, tc := range []struct {
		path string
		code int
		want string
	}{
		{"/versions?at=" + huge, http.StatusBadRequest, `at="` + strings.Repeat("x", 64) + `"… (900000 bytes) is not a view`},
		{"/params?at=" + huge, http.StatusBadRequest, `at="` + strings.Repeat("x", 64) + `"… (900000 bytes) is not a view`},
		{"/readiness?deployment=c11&at=" + huge, http.StatusBadRequest, `"… (900000 bytes): the only value is lock-in`},
		{"/readiness?deployment=" + huge, http.StatusNotFound, `no deployment "` + strings.Repeat("x", 64) + `"… (900000 bytes)`},
		{"/readiness?deployment=" + huge + "&at=lock-in", http.StatusNotFound, `"… (900000 bytes)`},
		{"/submissions/" + huge, http.StatusNotFound, `"… (900000 bytes) was made through this node`},
		{"/versions?at=soon", http.StatusBadRequest, `at="soon" is not a view`}, // a short value whole, as before
	} {
		code, body, _ := get(t, client, base+tc.path, "")
		name := tc.path[:min(len(tc.path), 40)]
		assert.Equal(t, tc.code, code, "%s: %.200s", name, body)
		assert.Contains(t, body, tc.want, "%s", name)
		assert.Less(t, len(body), 300, "%s: the reply is short: %.200s", name, body)
	}
	// The Host guard, which echoes a header, likewise.
	code, body, _ := get(t, client, base+"/status", strings.Repeat("h", 50_000)+".example")
	assert.Equal(t, http.StatusMisdirectedRequest, code)
	assert.Contains(t, body, "… (50008 bytes) is not this node")
	assert.Less(t, len(body), 400, "%.200s", body)
}

func TestQuoteValue(t *testing.T) {
	assert.Equal(t, `"abc"`, quoteValue("abc"))
	assert.Equal(t, strconv.Quote(strings.Repeat("a", 64)), quoteValue(strings.Repeat("a", 64)), "64 bytes: whole")
	assert.Equal(t, strconv.Quote(strings.Repeat("a", 64))+"… (65 bytes)", quoteValue(strings.Repeat("a", 65)))
	// Not cut inside a rune: 63 ASCII bytes and a 2-byte é straddle byte 64.
	assert.Equal(t, strconv.Quote(strings.Repeat("a", 63))+"… (66 bytes)", quoteValue(strings.Repeat("a", 63)+"éb"))
	assert.Equal(t, `"a\nb"`, quoteValue("a\nb"), "control characters are escaped")
}
