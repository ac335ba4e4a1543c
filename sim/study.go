// Package sim is the research simulator: it compares governance-driven and
// stake-driven activation by Monte Carlo, driving the real activation engine
// (the same Apply the node runs) with synthesized finalized blocks: one at
// each epoch start, one at each view where attestations arrive, one at a
// governance activation view. Views may skip, so those blocks are a complete
// chain as far as the engine is concerned.
//
// Within one run every mechanism sees the same population and the same
// operator draws (common random numbers), so differences between mechanisms
// are not sampling noise. Runs are independent, seeded from (seed, run), and
// run in parallel; results are stored by run index, so the output is the same
// bytes for the same seed on any number of cores.
package sim

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
)

// Study is the outcome of a config's runs: Outcomes[run*len(mechanisms)+m].
type Study struct {
	Config   *Config
	Outcomes []Outcome
	// Robustness is the comparison rerun under each unsourced assumption's
	// variants (RunRobustness); nil until it runs.
	Robustness *Robustness
	// dropped names the plots Plots left out because they had nothing to show.
	dropped []string
}

// Options adjusts Run.
type Options struct {
	// Workers running runs in parallel; 0 means GOMAXPROCS.
	Workers int
}

// Run executes every run of the config. It owns its worker goroutines and
// returns only after they have all stopped; cancelling ctx stops it early
// with ctx's error.
func Run(ctx context.Context, c *Config, opts Options) (*Study, error) {
	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	nm := len(c.Mechanisms)
	outcomes := make([]Outcome, c.Runs*nm)
	errs := make([]error, c.Runs)
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(workers, c.Runs) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf runBuffers
			for run := range next {
				errs[run] = c.oneRun(run, outcomes[run*nm:(run+1)*nm], &buf)
			}
		}()
	}
	var ctxErr error
feed:
	for run := range c.Runs {
		select {
		case next <- run:
		case <-ctx.Done():
			ctxErr = ctx.Err()
			break feed
		}
	}
	close(next)
	wg.Wait()
	if ctxErr != nil {
		return nil, ctxErr
	}
	for run, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("run %d: %w", run, err)
		}
	}
	return &Study{Config: c, Outcomes: outcomes}, nil
}

// oneRun draws the run's population and simulates every mechanism on it.
func (c *Config) oneRun(run int, out []Outcome, buf *runBuffers) error {
	pop, err := c.drawPopulation(newRunRNG(c, run))
	if err != nil {
		return err
	}
	for i := range c.Mechanisms {
		o, err := c.simulate(run, pop, &c.Mechanisms[i], buf)
		if err != nil {
			return fmt.Errorf("mechanism %s: %w", c.Mechanisms[i].Name, err)
		}
		out[i] = o
	}
	return nil
}

// newRunRNG is run's random source: a function of the seed and the run only.
func newRunRNG(c *Config, run int) *rand.Rand { return rand.New(rand.NewPCG(c.Seed, uint64(run))) }

// ByMechanism returns the outcomes of one mechanism, in run order.
func (s *Study) ByMechanism(name string) []Outcome {
	var out []Outcome
	for _, o := range s.Outcomes {
		if o.Mechanism == name {
			out = append(out, o)
		}
	}
	return out
}
