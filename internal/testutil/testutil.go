// Package testutil holds the helpers that several packages' tests share.
// It is imported by tests only.
package testutil

import (
	"bytes"
	"errors"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// PollInterval is how often Eventually checks its condition.
const PollInterval = 20 * time.Millisecond

// Eventually waits for cond to hold, checking it every PollInterval for at
// most d, and fails the test naming what it waited for if it never does.
// cond runs on the caller's goroutine (unlike testify's Eventually, which
// runs it on another one), so it may use t's require helpers. cond is
// checked once more at the deadline, so a condition that becomes true just
// then still counts.
func Eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if !time.Now().Before(deadline) {
			t.Fatalf("not within %s: %s", d, what)
			return
		}
		time.Sleep(min(PollInterval, max(time.Until(deadline), 0)))
	}
}

// ProcessGone reports whether process pid has exited. A zombie (exited, not
// yet reaped, as happens under a container's PID 1 that does not reap)
// counts as gone.
func ProcessGone(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	// "pid (comm) S ...": the command may hold anything, so the state is
	// found after the last ')'.
	i := bytes.LastIndexByte(stat, ')')
	return i >= 0 && i+2 < len(stat) && stat[i+2] == 'Z'
}
