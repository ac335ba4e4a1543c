//go:build soak

package p2p

import (
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// TestSoakChurn50Epochs: 50 epochs of 4 s or more, each with every signer
// attesting and four peers with fresh identities joining, sending genuine
// and forged attestations and leaving. gossipsub keeps message IDs for two
// minutes (its seen-cache) and a departed peer's score for one (RetainScore,
// so a graylisted peer cannot shed its penalty by reconnecting): the heap
// reaches its level after two minutes (epoch 30 is past that) and must then
// stay there: epoch 50's within a small margin of epoch 30's.
//
//	go test -tags soak -run TestSoakChurn50Epochs -v ./p2p/
func TestSoakChurn50Epochs(t *testing.T) {
	defer leakCheck(t)()
	heap := map[uint64]uint64{}
	peak := runChurn(t, 50, 4, func(e uint64) {
		time.Sleep(4 * time.Second)
		if e%10 == 0 {
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			heap[e] = ms.HeapAlloc
			t.Logf("epoch %d: heap %.1f MiB", e, float64(ms.HeapAlloc)/(1<<20))
		}
	})
	t.Logf("peak per-epoch state: %+v", peak)
	assert.LessOrEqual(t, heap[50], heap[30]+heap[30]/10+256<<10, "heap grew from %d to %d bytes", heap[30], heap[50])
}
