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
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		target := 20 + rng.IntN(200)
		seen := 0
		resumed := -1
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) == 2 && fields[0] == "resumed" {
				resumed, err = strconv.Atoi(fields[1])
				require.NoError(t, err, "round %d: child said %q", round, sc.Text())
				if resumed < lastReported+1 {
					t.Fatalf("round %d: resumed at %d, but %d was reported committed", round, resumed, lastReported)
				}
				continue
			}
			if len(fields) != 2 || fields[0] != "committed" {
				t.Fatalf("round %d: child said %q", round, sc.Text())
			}
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
		if lastReported+1 >= len(c.blocks) {
			t.Fatalf("round %d: the child outran the test chain", round)
		}
		s, err := Open(dir, c.options(nil))
		if err != nil {
			t.Fatalf("round %d: reopen after SIGKILL: %v", round, err)
		}
		head, ok := s.Head()
		if !ok {
			t.Fatalf("round %d: no head", round)
		}
		h, _, _ := head.Head()
		if int(h) < lastReported {
			t.Fatalf("round %d: head %d, but %d was reported committed", round, h, lastReported)
		}
		if head.ID() != c.states[h].ID() {
			t.Fatalf("round %d: head state at %d differs from the chain's", round, h)
		}
		if st, err := s.StateAt(h); err != nil || st.ID() != head.ID() {
			t.Fatalf("round %d: re-deriving the head: %v", round, err)
		}
		s.Close()
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
