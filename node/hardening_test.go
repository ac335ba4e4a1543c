package node

import (
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestHostGuard(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	h := hostGuard(l, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) }))
	for host, want := range map[string]int{
		"127.0.0.1:8080": http.StatusTeapot, "localhost:1": http.StatusTeapot, "[::1]:9": http.StatusTeapot,
		"localhost": http.StatusTeapot, "evil.example:8080": http.StatusForbidden, "evil.example": http.StatusForbidden,
		"10.0.0.1:80": http.StatusForbidden,
	} {
		req := httptest.NewRequest(http.MethodGet, "/status", nil)
		req.Host = host
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		assert.Equal(t, want, rec.Code, "Host %q", host)
	}
}

func TestStakingKeyReadableByOthersIsRefused(t *testing.T) {
	dir := t.TempDir()
	_, err := InitHome(dir, func(path string) error { return os.WriteFile(path, nil, 0o600) })
	require.NoError(t, err)
	_, _, _, err = LoadKeys(dir, "n1")
	require.NoError(t, err, "0600 is fine")
	key := filepath.Join(dir, StakingKeyFile)
	require.NoError(t, os.Chmod(key, 0o644))
	_, _, _, err = LoadKeys(dir, "n1")
	require.ErrorIs(t, err, ErrKeyFileOpen)
	assert.Contains(t, err.Error(), "chmod 600 "+key)
	assert.Contains(t, err.Error(), "0644")
}

func TestExpensiveQueriesAreBounded(t *testing.T) {
	q := newQueryLimits()
	release := make(chan struct{})
	started := make(chan struct{}, maxExpensiveQueries)
	done := make(chan struct{}, maxExpensiveQueries)
	for range maxExpensiveQueries {
		go func() {
			q.expensive(func() (Readiness, error) { started <- struct{}{}; <-release; return Readiness{}, nil })
			done <- struct{}{}
		}()
	}
	for range maxExpensiveQueries {
		<-started
	}
	_, err := q.expensive(func() (Readiness, error) { t.Error("ran past the bound"); return Readiness{}, nil })
	assert.ErrorIs(t, err, errBusy)
	close(release)
	for range maxExpensiveQueries {
		<-done
	}
	_, err = q.expensive(func() (Readiness, error) { return Readiness{}, nil })
	assert.NoError(t, err, "slots are given back")
}
