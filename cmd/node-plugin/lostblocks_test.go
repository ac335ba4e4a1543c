package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/quorumgate/quorumgate/chain/devchain"
	"github.com/quorumgate/quorumgate/internal/testutil"
	"github.com/quorumgate/quorumgate/node"
	"github.com/quorumgate/quorumgate/storage"
)

// storeHead is the height of the head in the (stopped) node's store.
func storeHead(t *testing.T, home string, opts storage.Options) uint64 {
	t.Helper()
	g, err := devchain.Load(filepath.Join(home, "genesis.json"))
	require.NoError(t, err)
	opts.ChainID, opts.GenesisHash, opts.Genesis = g.ChainID, g.Hash(), g.State()
	s, err := storage.Open(filepath.Join(home, "store"), opts)
	require.NoError(t, err)
	defer func() { require.NoError(t, s.Close()) }()
	head, ok := s.Head()
	require.True(t, ok, "no block stored")
	h, _, _ := head.Head()
	return h
}

// statusHeight is the head height the running node's API reports (-1 if
// it does not answer).
func statusHeight(api string) int64 {
	resp, err := http.Get("http://" + api + "/status")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	var st node.Status
	if json.NewDecoder(resp.Body).Decode(&st) != nil {
		return -1
	}
	return int64(st.Head.Height)
}

// TestRunRefusesAStoreThatLostBlocks: a stopped node's newest WAL gets four
// bytes overwritten in the middle; run exits 1 with one line that says how
// many blocks the store lost and what to do, and with --resync-lost-blocks
// it starts from the recovered head and carries on.
func TestRunRefusesAStoreThatLostBlocks(t *testing.T) {
	defer http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	home := soloHome(t)
	stop := startRun(t, home, "--api-listen", "127.0.0.1:0")
	addrs := waitForAPI(t, home, 10*time.Second)
	testutil.Eventually(t, 20*time.Second, "the node makes 80 blocks", func() bool { return statusHeight(addrs.API) >= 79 })
	require.Equal(t, exitOK, stop())
	// Read-only: a writable open would start a new, empty, newest WAL.
	before := storeHead(t, home, storage.Options{ReadOnly: true})

	dir := filepath.Join(home, "store")
	logs, err := filepath.Glob(filepath.Join(dir, "*.log"))
	require.NoError(t, err)
	require.NotEmpty(t, logs)
	slices.Sort(logs)
	f, err := os.OpenFile(logs[len(logs)-1], os.O_RDWR, 0)
	require.NoError(t, err)
	st, err := f.Stat()
	require.NoError(t, err)
	_, err = f.WriteAt([]byte{0xde, 0xad, 0xbe, 0xef}, st.Size()/2)
	require.NoError(t, err)
	require.NoError(t, f.Close())

	// Bounded: a node that starts anyway is stopped, and the test fails.
	refuse, cancelRefuse := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancelRefuse()
	var refusedErr bytes.Buffer
	code := runContext(refuse, []string{"run", "--home", home, "--view-interval", "5ms"}, &bytes.Buffer{}, &refusedErr)
	stderr := refusedErr.String()
	require.Equal(t, exitFailure, code, stderr)
	var errLines []string
	for _, l := range strings.Split(strings.TrimSpace(stderr), "\n") {
		if strings.HasPrefix(l, "node-plugin:") {
			errLines = append(errLines, l)
		}
	}
	require.Len(t, errLines, 1, stderr)
	assert.Regexp(t, fmt.Sprintf(`^node-plugin: node: open the store: the store at %s lost \d+ committed blocks: it had committed blocks up to %d, .*run again with --resync-lost-blocks`, dir, before), errLines[0])
	assert.Contains(t, stderr, "stopped reading at offset", "pebble's WAL recovery report reaches the node's log")

	// With the flag the node starts from what the store kept, says how
	// many blocks it lost, and goes on past the old head.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	var errOut bytes.Buffer
	require.NoError(t, os.Remove(filepath.Join(home, node.APIAddrFile)))
	go func() {
		done <- runContext(ctx, []string{"run", "--home", home, "--view-interval", "5ms", "--api-listen", "127.0.0.1:0", "--resync-lost-blocks"},
			&bytes.Buffer{}, &errOut)
	}()
	addrs = waitForAPI(t, home, 10*time.Second)
	testutil.Eventually(t, 20*time.Second, "the node passes its old head", func() bool { return statusHeight(addrs.API) > int64(before) })
	cancel()
	select {
	case code = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("run did not stop")
	}
	require.Equal(t, exitOK, code, errOut.String())
	assert.Regexp(t, `lost=\d+`, errOut.String(), "the node logs how many blocks it re-syncs")
	assert.Greater(t, storeHead(t, home, storage.Options{}), before, "a later open is clean and past the old head")
}
