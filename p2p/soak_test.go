//go:build soak

package p2p

import (
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestSoakChurn50Epochs: 50 epochs, each with every signer attesting and
// four peers with fresh identities joining, sending genuine and forged
// attestations and leaving. The heap after epoch 50 stays within a margin
// of the heap after epoch 10: nothing grows per epoch or per identity.
//
//	go test -tags soak -run TestSoakChurn50Epochs -v ./p2p/
func TestSoakChurn50Epochs(t *testing.T) {
	defer leakCheck(t)()
	heap := map[uint64]uint64{}
	peak := runChurn(t, 50, 4, func(e uint64) {
		if e%10 == 0 {
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			heap[e] = ms.HeapAlloc
			t.Logf("epoch %d: heap %.1f MiB", e, float64(ms.HeapAlloc)/(1<<20))
		}
	})
	t.Logf("peak per-epoch state: %+v", peak)
	assert.LessOrEqual(t, heap[50], heap[10]+heap[10]/4+4<<20, "heap grew from %d to %d bytes", heap[10], heap[50])
}
