package testutil

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// recorder is a testing.TB that records Fatalf instead of stopping.
type recorder struct {
	testing.TB
	failed string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
}

func TestEventuallyReturnsOnceTheConditionHolds(t *testing.T) {
	calls := 0
	r := &recorder{TB: t}
	Eventually(r, 5*time.Second, "the third call", func() bool { calls++; return calls == 3 })
	assert.Empty(t, r.failed)
	assert.Equal(t, 3, calls, "no more calls after the condition held")
}

func TestEventuallyFailsNamingWhatItWaitedFor(t *testing.T) {
	calls := 0
	r := &recorder{TB: t}
	Eventually(r, 3*PollInterval, "the impossible", func() bool { calls++; return false })
	assert.Equal(t, "not within 60ms: the impossible", r.failed)
	assert.GreaterOrEqual(t, calls, 2, "checked at the start and again at the deadline")
}

func TestEventuallyChecksAtTheDeadline(t *testing.T) {
	// A zero wait still checks once: a condition that already holds passes.
	r := &recorder{TB: t}
	Eventually(r, 0, "already true", func() bool { return true })
	assert.Empty(t, r.failed)
}
