package signal

import "testing"

// The checks inside the timed loops stay plain ifs: a testify call per
// iteration would be part of what is measured.

func BenchmarkSign(b *testing.B) {
	k := mustKey(b, 1)
	msg := ReadinessMessage("bench", dep, 3)
	for range b.N {
		if _, err := Sign(k, msg); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	msg, pks, sigs := fixture(b)
	b.ResetTimer()
	for range b.N {
		if err := Verify(pks[0], msg, sigs[0]); err != nil {
			b.Fatal(err)
		}
	}
}

func reportRate(b *testing.B, n int) {
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "attestations/s")
}

// BenchmarkBatchVerify1000: the optimistic aggregate path, all good.
func BenchmarkBatchVerify1000(b *testing.B) {
	msg, pks, sigs := fixture(b)
	b.ResetTimer()
	for range b.N {
		if bad, err := BatchVerify(msg, pks, sigs); err != nil || bad != nil {
			b.Fatal(bad, err)
		}
	}
	reportRate(b, len(sigs))
}

// BenchmarkBatchVerify1000OneBad: the aggregate fails and bisection finds the one.
func BenchmarkBatchVerify1000OneBad(b *testing.B) {
	msg, pks, sigs := fixture(b)
	sigs[123] = sigs[124]
	b.ResetTimer()
	for range b.N {
		if bad, _ := BatchVerify(msg, pks, sigs); len(bad) != 1 {
			b.Fatal(bad)
		}
	}
	reportRate(b, len(sigs))
}

// BenchmarkVerifyOneByOne1000: the naive baseline, one pairing check each.
func BenchmarkVerifyOneByOne1000(b *testing.B) {
	msg, pks, sigs := fixture(b)
	b.ResetTimer()
	for range b.N {
		for i := range sigs {
			if err := Verify(pks[i], msg, sigs[i]); err != nil {
				b.Fatal(err)
			}
		}
	}
	reportRate(b, len(sigs))
}
