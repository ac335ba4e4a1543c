package storage

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/require"
)

// The child mode of the test binary: with QUORUMGATE_STORE_WRITER set to a
// directory, the binary is a writer process, not a test run.
const writerEnv = "QUORUMGATE_STORE_WRITER"

func TestMain(m *testing.M) {
	if dir := os.Getenv(writerEnv); dir != "" {
		os.Exit(writerMain(dir))
	}
	os.Exit(m.Run())
}

// killChainLen bounds the child: it stops by itself at the end of the chain.
const killChainLen = 3000

// writerMain reopens the store, resumes after its head and commits the
// deterministic chain, printing each committed height, until killed (or, as
// a bound, the chain ends).
func writerMain(dir string) int {
	c := makeChain(childTB{}, killChainLen, 42)
	o := c.options(nil)
	o.Small = true
	s, err := Open(dir, o)
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	next := 0
	if head, ok := s.Head(); ok {
		h, _, _ := head.Head()
		next = int(h) + 1
	}
	fmt.Println("resumed", next)
	w := bufio.NewWriter(os.Stdout)
	for i := next; i < killChainLen; i++ {
		if err := s.Commit(c.blocks[i], c.states[i]); err != nil {
			fmt.Fprintln(w, "error", err)
			w.Flush()
			return 1
		}
		fmt.Fprintln(w, "committed", i)
		w.Flush()
	}
	s.Close()
	return 0
}

// childTB is the writer child's testing.TB: a failure says so on stdout,
// where the test reads it, and exits 1. (A zero testing.T would hang the
// child in FailNow instead.) Only what makeChain's helpers call is defined.
type childTB struct{ testing.TB }

func (childTB) Helper() {}
func (childTB) Errorf(format string, args ...any) {
	fmt.Printf("error "+format+"\n", args...)
}
func (childTB) FailNow() { os.Exit(1) }
func (c childTB) Fatal(args ...any) {
	fmt.Println(append([]any{"error"}, args...)...)
	os.Exit(1)
}
func (c childTB) Fatalf(format string, args ...any) {
	c.Errorf(format, args...)
	os.Exit(1)
}

// TestCrashKillProcess: a child process writing blocks to a store on disk is
// killed with SIGKILL, repeatedly; each restart must resume from a consistent
// head that holds at least every block the child reported committed.
func TestCrashKillProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes; skipped with -short")
	}
	dir := t.TempDir()
	c := makeChain(t, killChainLen, 42)
	rng := rand.New(rand.NewPCG(7, 7))
	lastReported := -1
	for round := range 5 {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), writerEnv+"="+dir)
		out, err := cmd.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		sc := bufio.NewScanner(out)
		target := 20 + rng.IntN(200)
		seen := 0
		resumed := -1
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) == 2 && fields[0] == "resumed" {
				resumed, err = strconv.Atoi(fields[1])
				require.NoError(t, err, "round %d: child said %q", round, sc.Text())
				require.GreaterOrEqual(t, resumed, lastReported+1,
					"round %d: resumed at %d, but %d was reported committed", round, resumed, lastReported)
				continue
			}
			require.True(t, len(fields) == 2 && fields[0] == "committed", "round %d: child said %q", round, sc.Text())
			lastReported, err = strconv.Atoi(fields[1])
			require.NoError(t, err, "round %d: child said %q", round, sc.Text())
			if seen++; seen >= target {
				break
			}
		}
		require.NoError(t, sc.Err(), "round %d: reading the child's output", round)
		require.NoError(t, cmd.Process.Signal(syscall.SIGKILL), "round %d: kill the child", round)
		// Drain and reap; bounded by the kill. The drain ends in an error by
		// design (the pipe closes), and Wait reports the kill (or a normal
		// exit if the child reached the chain's end first): what the test
		// judges is the store, below.
		done := make(chan struct{})
		go func() { _, _ = bufioDrain(out); close(done) }()
		_ = cmd.Wait()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("child output did not close after SIGKILL")
		}
		require.Less(t, lastReported+1, len(c.blocks), "round %d: the child outran the test chain", round)
		// The head marker, written after each synced batch, survived the
		// kill in the OS's cache: it covers every reported block.
		m, ok, err := readMarkerIn(vfs.Default, dir)
		require.NoError(t, err, "round %d: read the head marker", round)
		require.True(t, ok, "round %d: no head marker", round)
		require.GreaterOrEqual(t, m.blocks, uint64(lastReported+1), "round %d: the marker after the kill", round)
		// Each round resumes from the store the previous one left, so a
		// failed check ends the test (require, not assert).
		s, err := Open(dir, c.options(nil))
		require.NoError(t, err, "round %d: reopen after SIGKILL", round)
		head, ok := s.Head()
		require.True(t, ok, "round %d: no head", round)
		h, _, _ := head.Head()
		require.GreaterOrEqual(t, int(h), lastReported, "round %d: head %d, but %d was reported committed", round, h, lastReported)
		require.Equal(t, c.states[h].ID(), head.ID(), "round %d: head state at %d differs from the chain's", round, h)
		st, err := s.StateAt(h)
		require.NoError(t, err, "round %d: re-deriving the head", round)
		require.Equal(t, head.ID(), st.ID(), "round %d: re-deriving the head", round)
		require.NoError(t, s.Close(), "round %d", round)
		t.Logf("round %d: killed after block %d reported, store head %d", round, lastReported, h)
	}
}

func bufioDrain(r interface{ Read([]byte) (int, error) }) (int, error) {
	buf := make([]byte, 4096)
	n := 0
	for {
		k, err := r.Read(buf)
		n += k
		if err != nil {
			return n, err
		}
	}
}
