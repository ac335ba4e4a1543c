package quorum

import (
	"errors"
	"fmt"
	"math/bits"
	"strconv"
	"strings"
)

// Threshold is a fraction num/den of stake that readiness must strictly exceed.
type Threshold struct {
	Num uint64 `cbor:"1,keyasint"`
	Den uint64 `cbor:"2,keyasint"`
}

// TwoThirds is the default deployment threshold: more than two thirds of stake.
var TwoThirds = Threshold{Num: 2, Den: 3}

// Valid reports whether 0 < num < den, the only thresholds a deployment may use.
func (t Threshold) Valid() bool { return t.Num > 0 && t.Num < t.Den }

func (t Threshold) String() string { return fmt.Sprintf("%d/%d", t.Num, t.Den) }

// ErrThresholdSyntax is returned by ParseThreshold for text not of the form num/den.
var ErrThresholdSyntax = errors.New("threshold must have the form num/den with whole numbers from 0 to 18446744073709551615")

// ParseThreshold reads "num/den". It checks only the form; whether the
// fraction is usable (Valid) is a protocol rule, judged where it applies.
func ParseThreshold(s string) (Threshold, error) {
	numText, denText, ok := strings.Cut(s, "/")
	if !ok {
		return Threshold{}, ErrThresholdSyntax
	}
	num, err1 := parseDigits(numText)
	den, err2 := parseDigits(denText)
	if err1 != nil || err2 != nil {
		return Threshold{}, ErrThresholdSyntax
	}
	return Threshold{Num: num, Den: den}, nil
}

func parseDigits(s string) (uint64, error) {
	if s == "" {
		return 0, ErrThresholdSyntax
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, ErrThresholdSyntax
		}
	}
	return strconv.ParseUint(s, 10, 64)
}

// Exceeds reports ready*den > num*total, exactly, in 128-bit arithmetic, so
// stakes close to 2^64 work. A zero total is never exceeded.
func (t Threshold) Exceeds(ready, total uint64) bool {
	lhsHi, lhsLo := bits.Mul64(ready, t.Den)
	rhsHi, rhsLo := bits.Mul64(t.Num, total)
	if lhsHi != rhsHi {
		return lhsHi > rhsHi
	}
	return lhsLo > rhsLo
}
