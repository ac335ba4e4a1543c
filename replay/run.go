package replay

import (
	"errors"
	"fmt"
	"slices"

	"github.com/quorumgate/quorumgate/activation"
)

// RunOptions adjusts Run.
type RunOptions struct {
	// EveryView applies every empty block. By default Run skips empty blocks
	// that provably change nothing but the head (see State.NextWake), which
	// makes long quiet stretches free; the result is the same either way.
	EveryView bool
	// MaxBlocks, when not 0, stops the run with ErrMaxBlocks after that many
	// applied blocks (a guard for tests and fuzzing).
	MaxBlocks int
	// StateID makes Output print a "state" line, with the state ID after the
	// last block, before the summary (docs/replay.md).
	StateID bool
}

// ErrMaxBlocks is returned by Run when RunOptions.MaxBlocks stopped it.
var ErrMaxBlocks = errors.New("stopped by RunOptions.MaxBlocks")

// Result is the outcome of a run.
type Result struct {
	Final *activation.State
	// Applied counts the blocks Apply actually ran.
	Applied int
}

// Run applies the scenario to the engine from genesis, calling emit with the
// events of each block in order.
func (sc *Scenario) Run(opts RunOptions, emit func(activation.Event)) (Result, error) {
	state, err := activation.Genesis(sc.Params, sc.Versions)
	if err != nil {
		return Result{}, fmt.Errorf("genesis state: %w", err)
	}
	last := sc.lastView()
	next := sc.nextPresent(0)
	listed := 0
	res := Result{}
	for {
		b := activation.Block{View: next, Height: sc.height(next)}
		var rejected []activation.Rejection
		if listed < len(sc.Blocks) && sc.Blocks[listed].View == next {
			lb := sc.Blocks[listed]
			b.Proposals, b.Cancels, b.Readiness, rejected = lb.Proposals, lb.Cancels, lb.Readiness, lb.Rejected
			listed++
		}
		var events []activation.Event
		state, events, err = activation.Apply(state, b)
		if err != nil {
			return Result{}, fmt.Errorf("view %d: %w", next, err)
		}
		res.Applied++
		if opts.MaxBlocks > 0 && res.Applied >= opts.MaxBlocks && next != last {
			return Result{}, fmt.Errorf("%w after %d blocks", ErrMaxBlocks, res.Applied)
		}
		for _, r := range rejected {
			emit(r)
		}
		for _, e := range events {
			emit(e)
		}
		if next == last {
			break
		}
		if opts.EveryView {
			next = sc.nextPresent(next + 1)
			continue
		}
		target := last
		if listed < len(sc.Blocks) {
			target = min(target, sc.Blocks[listed].View)
		}
		if wake := state.NextWake(); wake < target {
			target = min(target, sc.nextPresent(wake))
		}
		next = target
	}
	res.Final = state
	return res, nil
}

// height is the height of the block at present view v: the views before it that have blocks.
func (sc *Scenario) height(v uint64) uint64 {
	missingBefore, _ := slices.BinarySearch(sc.Missing, v)
	return v - uint64(missingBefore)
}

// nextPresent returns the first view >= v that has a block (v <= lastView).
func (sc *Scenario) nextPresent(v uint64) uint64 {
	i, _ := slices.BinarySearch(sc.Missing, v)
	for ; i < len(sc.Missing) && sc.Missing[i] == v; i++ {
		v++
	}
	return v
}

// lastView is the view of the last block: until_view, or the latest view before it that is not missing.
func (sc *Scenario) lastView() uint64 {
	v := sc.UntilView
	for i := len(sc.Missing) - 1; i >= 0 && sc.Missing[i] == v; i-- {
		v--
	}
	return v
}
