package cometbft

import (
	"bytes"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestLoggerWithKeepsPairsApart checks the lazy With: its pairs reach the
// records logged, two loggers made from one by With do not see each other's
// pairs, and CometBFT's info and debug lines stay below a node's info level.
func TestLoggerWithKeepsPairsApart(t *testing.T) {
	var buf bytes.Buffer
	base := newLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})))
	peer := base.With("module", "p2p")
	a := peer.With("peer", "a")
	b := peer.With("peer", "b")

	a.Error("dial failed", "err", "refused")
	b.Error("dial failed", "err", "timeout")
	a.Info("not shown")
	b.Debug("not shown either")

	lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
	require.Len(t, lines, 2, "only the two errors are logged, at info level:\n%s", buf.String())
	assert.Contains(t, string(lines[0]), "engine=cometbft module=p2p peer=a err=refused")
	assert.Contains(t, string(lines[1]), "engine=cometbft module=p2p peer=b err=timeout")
	assert.NotContains(t, string(lines[1]), "peer=a")
}
