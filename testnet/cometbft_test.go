package testnet

import (
	"bytes"
	"context"
	"fmt"
	mrand "math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The CometBFT demo: a validator under a third of the voting power is
// SIGKILLed during signaling and kept down until after the activation; the
// chain keeps finalizing; every node activates at the same height; the
// validator rejoins and agrees on the state ID.
func TestCometBFTDemoEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real node processes; skipped with -short")
	}
	bin := buildBinary(t)
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	res, err := Demo(ctx, DemoOptions{Nodes: 5, Mode: "stake", Dir: t.TempDir(), Binary: bin, Seed: 3, Engine: "cometbft",
		ViewInterval: 20 * time.Millisecond, EpochViews: 40, Out: &out})
	require.NoError(t, err, out.String())
	text := out.String()
	assert.Contains(t, text, "SIGKILLed validator c4")
	assert.Contains(t, text, "the chain keeps finalizing without c4")
	assert.Contains(t, text, "c4, SIGKILLed during signaling, rejoined and agrees on that state ID")
	killed := 0
	for _, n := range res.Nodes {
		assert.Equal(t, "ACTIVE", n.FinalState, n.ID)
		assert.Equal(t, res.Nodes[0].ActivationHeight, n.ActivationHeight, "%s activates at another height", n.ID)
		assert.Equal(t, res.Nodes[0].StateIDAtCommon, n.StateIDAtCommon, n.ID)
		if n.Killed {
			killed++
			assert.Equal(t, "c4", n.ID)
			assert.False(t, n.ReadyAtLockIn, "c4 was down before it could signal")
		}
	}
	assert.Equal(t, 1, killed, text)
	assert.Equal(t, res.ActivationView-1, res.Nodes[0].ActivationHeight, "heights are views")
}

// A validator process SIGKILLed at random moments, ten times, always
// rejoins and agrees with the others on the state ID, while the chain
// keeps finalizing without it.
func TestCometBFTValidatorSIGKILLRejoins(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real node processes; skipped with -short")
	}
	bin := buildBinary(t)
	var out bytes.Buffer
	d := &demo{o: DemoOptions{Dir: t.TempDir(), Binary: bin, Nodes: 5, ViewInterval: 20 * time.Millisecond, EpochViews: 40,
		Engine: "cometbft", Out: &out}, rng: mrand.New(mrand.NewPCG(11, 7))}
	defer d.teardown()
	require.NoError(t, d.setup())
	for _, p := range d.procs {
		require.NoError(t, d.start(p, false))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	height := func(p *proc) uint64 {
		st, err := d.status(ctx, p)
		if err != nil {
			return 0
		}
		return st.Head.Height
	}
	require.NoError(t, d.waitAll(ctx, 60*time.Second, "every node past height 3", func(p *proc) bool { return height(p) > 3 }))
	for round := range 10 {
		time.Sleep(time.Duration(d.rng.IntN(800)) * time.Millisecond)
		victim := d.procs[d.rng.IntN(4)] // one of the four validators, each under a third
		at := height(d.procs[4])
		require.NoError(t, d.kill(victim), "round %d", round)
		// The others go on without it.
		require.NoError(t, d.waitAll(ctx, 30*time.Second, fmt.Sprintf("round %d: the chain passes height %d without %s", round, at+5, victim.id),
			func(p *proc) bool { return p == victim || height(p) > at+5 }))
		require.NoError(t, d.start(victim, false))
		target := height(d.procs[4])
		require.NoError(t, d.waitAll(ctx, 60*time.Second, fmt.Sprintf("round %d: %s catches up", round, victim.id),
			func(p *proc) bool { return height(p) > target }))
		// Every node has the same state ID at the same height.
		var want string
		for _, p := range d.procs {
			sid, err := p.client().StateID(ctx, target)
			require.NoError(t, err)
			if want == "" {
				want = sid
			}
			require.Equal(t, want, sid, "round %d: %s's state ID at height %d", round, p.id, target)
		}
	}
}

func TestStatusNamesTheCometBFTEngine(t *testing.T) {
	var b bytes.Buffer
	WriteStatus(&b, NetStatus{Dir: "d", ChainID: "demo", EpochViews: 100, ViewInterval: "100ms", Engine: "cometbft"})
	assert.Contains(t, b.String(), "testnet d: chain demo on CometBFT (views are heights), 0 nodes")
	b.Reset()
	WriteStatus(&b, NetStatus{Dir: "d", ChainID: "demo", EpochViews: 100, ViewInterval: "100ms"})
	assert.Contains(t, b.String(), "testnet d: chain demo, 0 nodes")
}

// An interactive CometBFT testnet through the real binary: up creates it on
// CometBFT (validators marked), status names the engine and shows every
// node following, a parameter changes by governance and another by stake,
// an existing testnet refuses another engine, and down leaves no node
// process behind.
func TestInteractiveCometBFTTestnet(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real node processes; skipped with -short")
	}
	c := &tnCLI{t: t, bin: buildBinary(t), dir: filepath.Join(t.TempDir(), "tn"), pids: map[int]string{}}
	defer func() {
		c.run("down")
		for pid, home := range c.pids {
			assert.False(t, processAlive(pid, home), "node process %d (%s) outlived the testnet", pid, home)
		}
	}()
	out := c.ok("up", "--engine", "cometbft", "--nodes", "5", "--view-interval", "20ms", "--epoch-views", "40")
	c.remember()
	assert.Contains(t, out, "every node is synced")
	assert.Contains(t, out, "consensus (validator)")
	tn, err := Open(c.dir)
	require.NoError(t, err)
	assert.Equal(t, "cometbft", tn.M.Engine)
	status := c.ok("status")
	assert.Contains(t, status, "on CometBFT (views are heights)")
	// Parameter changes by governance and by stake: every node reports the
	// same value from the same height.
	changeParams(t, c)
	_, stderr, code := c.run("up", "--engine", "devchain")
	assert.Equal(t, 2, code, stderr)
	assert.Contains(t, stderr, "runs on cometbft")
	c.ok("down")
}
