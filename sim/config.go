package sim

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/quorum"
)

// Config is a simulation study: a chain, a population, how operators behave
// after a release, and the activation mechanisms to compare.
type Config struct {
	Seed          uint64 `toml:"seed"`
	Runs          int    `toml:"runs"`
	HorizonEpochs uint64 `toml:"horizon_epochs"`
	// LivenessWindowHours is the span after activation over which missed
	// blocks are counted: fixed, so a longer horizon favours no mechanism.
	LivenessWindowHours float64 `toml:"liveness_window_hours"`
	// UnsafeUnready is the bound of an unsafe activation: a run is unsafe
	// when it activated while more than this share of stake (or hash power)
	// was not upgraded. Default 1/3, the share a BFT quorum tolerates.
	UnsafeUnready float64 `toml:"unsafe_unready"`
	// RobustnessRuns is how many runs each robustness variant has (0: the
	// smaller of runs and 200).
	RobustnessRuns int `toml:"robustness_runs,omitempty"`

	Chain      ChainConfig       `toml:"chain"`
	Population PopulationConfig  `toml:"population"`
	Behaviour  BehaviourConfig   `toml:"behaviour"`
	Mechanisms []MechanismConfig `toml:"mechanism"`
	// ParamChange, if set, makes the release a parameter change rather than
	// a version upgrade (see ParamChangeConfig).
	ParamChange *ParamChangeConfig `toml:"param_change,omitempty"`
	// Sweep, if set, makes the config a family of studies (see SweepConfig).
	Sweep *SweepConfig `toml:"sweep,omitempty"`

	// dir is the config file's folder; CSV paths are relative to it.
	dir string
	// raw is the config's text, from which sweep points are derived.
	raw []byte
	// oatBases are the one_at_a_time baselines, one per swept key.
	oatBases []any
	// calib records how the delay was fitted (for the report).
	calib calibration
	// perViewBlocks makes the simulation apply one block per view at which
	// attestations arrive instead of packing them (tests compare the two).
	perViewBlocks bool
	// Loaded data.
	stakeTable []csvNode
	delayCDF   []cdfPoint
	// paramDecls declares param_change's parameter at genesis (nil: none).
	paramDecls []activation.ParamDecl
	// slots is the identity schedule a proof-of-work mechanism's engine
	// counts: one identity of stake 1 per block of a period (nil: no pow
	// mechanism).
	slots *quorum.Schedule
}

// ChainConfig sets the simulated chain's clock.
type ChainConfig struct {
	EpochViews  uint64  `toml:"epoch_views"`
	SafetyViews uint64  `toml:"safety_views"`
	ViewSeconds float64 `toml:"view_seconds"`
	// AttestJitterViews spreads a node's attestation over the first views of an epoch.
	AttestJitterViews uint64 `toml:"attest_jitter_views"`
}

// RoleConfig is a role and its share of the nodes.
type RoleConfig struct {
	Name  string  `toml:"name"`
	Share float64 `toml:"share"`
	// StakeScale multiplies this role's drawn stakes (roles differ in minimum stake).
	StakeScale float64 `toml:"stake_scale"`
}

// PopulationConfig says who the nodes are.
type PopulationConfig struct {
	Nodes int          `toml:"nodes"`
	Roles []RoleConfig `toml:"role"`
	Stake StakeConfig  `toml:"stake"`
}

// StakeConfig is the stake distribution: uniform, pareto, or a CSV table.
type StakeConfig struct {
	Distribution string  `toml:"distribution"`
	Min          float64 `toml:"min,omitempty"`
	Max          float64 `toml:"max,omitempty"`
	Shape        float64 `toml:"shape,omitempty"`
	Scale        float64 `toml:"scale,omitempty"`
	CSV          string  `toml:"csv,omitempty"`
}

// DelayConfig is the distribution of an operator's upgrade delay after a release.
type DelayConfig struct {
	Distribution string      `toml:"distribution"` // lognormal | empirical
	MedianHours  float64     `toml:"median_hours,omitempty"`
	Sigma        float64     `toml:"sigma"`
	Points       [][]float64 `toml:"points,omitempty"` // empirical: [hours, share upgraded by then]
	CSV          string      `toml:"csv,omitempty"`    // empirical from a file: hours,share
	// Fit (lognormal only): observed [hours, share upgraded by then] points
	// the median (and, with two points or more and no sigma given, sigma) is
	// fitted to, by least squares in probit space (ln h = ln median + sigma·z).
	Fit [][]float64 `toml:"fit,omitempty"`
	// Check: observed points of another upgrade the fitted curve is held to;
	// the report shows predicted against observed.
	Check [][]float64 `toml:"check,omitempty"`
}

// DeadlineConfig is how operators react to a known activation time: a
// governance deadline, a hybrid's earliest view, and (hurry_on_lock_in) the
// activation view a stake lock-in fixes.
type DeadlineConfig struct {
	// HurryShare of the operators who would otherwise be late upgrade before the deadline.
	HurryShare float64 `toml:"hurry_share"`
	// They upgrade in the window of HurryWindowHours ending MarginHours before the deadline.
	MarginHours      float64 `toml:"margin_hours,omitempty"`
	HurryWindowHours float64 `toml:"hurry_window_hours"`
	// HurryOnLockIn (default true): once a stake deployment locks in, its
	// activation view is known, and late operators hurry towards it with
	// the same share, margin and window as before a governance deadline.
	HurryOnLockIn *bool `toml:"hurry_on_lock_in"`
}

// ClientConfig is one client implementation: a share of the operators run
// it, and in a run its release may slip, delaying all of them together.
type ClientConfig struct {
	Name            string  `toml:"name"`
	Share           float64 `toml:"share"`
	SlipProbability float64 `toml:"slip_probability,omitempty"`
	SlipHours       float64 `toml:"slip_hours,omitempty"`
}

// CoalitionConfig is a group of operators holding a share of stake who act
// together: signal readiness without upgrading, or withhold their signal.
type CoalitionConfig struct {
	Share  float64 `toml:"share"`
	Action string  `toml:"action"` // signal_without_upgrade | withhold
	Target string  `toml:"target"` // largest (default) | random
}

// OutageConfig is a correlated outage or partition: nodes holding a share of
// stake are missing from start_hours for hours, in a run with probability
// probability (default 1).
type OutageConfig struct {
	Share       float64  `toml:"share"`
	StartHours  float64  `toml:"start_hours"`
	Hours       float64  `toml:"hours"`
	Probability *float64 `toml:"probability"`
}

// BehaviourConfig is how operators behave after a release.
type BehaviourConfig struct {
	Delay                DelayConfig    `toml:"delay"`
	Deadline             DeadlineConfig `toml:"deadline"`
	OfflinePerEpoch      float64        `toml:"offline_per_epoch,omitempty"`
	SignalWithoutUpgrade float64        `toml:"signal_without_upgrade,omitempty"`
	UpgradeWithoutSignal float64        `toml:"upgrade_without_signal,omitempty"`
	// ChurnPerEpoch of the nodes leave at each epoch boundary and as many new
	// identities join (identity tables that change).
	ChurnPerEpoch float64           `toml:"churn_per_epoch,omitempty"`
	Clients       []ClientConfig    `toml:"client,omitempty"`
	Coalitions    []CoalitionConfig `toml:"coalition,omitempty"`
	Outages       []OutageConfig    `toml:"outage,omitempty"`
}

func (b *BehaviourConfig) hurryOnLockIn() bool {
	return b.Deadline.HurryOnLockIn == nil || *b.Deadline.HurryOnLockIn
}

// MechanismConfig is one way of activating the release.
type MechanismConfig struct {
	Name string `toml:"name"`
	// Kind: governance (fixed view), stake (threshold), hybrid (governance
	// earliest view, gated by stake readiness).
	Kind          string   `toml:"kind"`
	DelayHours    float64  `toml:"delay_hours,omitempty"`
	Threshold     string   `toml:"threshold,omitempty"`
	TimeoutEpochs uint64   `toml:"timeout_epochs,omitempty"`
	Roles         []string `toml:"roles,omitempty"`
	// StartEpoch is the first signaling epoch (default 0, the release).
	StartEpoch uint64 `toml:"start_epoch,omitempty"`
	// DelayEpochs: activation comes delay_epochs after the epoch that
	// follows lock-in (NEAR: 1, so lock-in in epoch T activates at T+2).
	DelayEpochs uint64 `toml:"delay_epochs,omitempty"`
	// MinActivationEpoch: activation never before this epoch (Speedy Trial's
	// minimum activation height).
	MinActivationEpoch uint64 `toml:"min_activation_epoch,omitempty"`
	// Strict (default true): ready stake must exceed the threshold; false:
	// reaching it is enough (BIP9 counts blocks >= 1916 of 2016).
	Strict *bool `toml:"strict,omitempty"`
	// SignalWholePeriod: a node counts in a signaling period only if it was
	// upgraded when the period began. BIP9 counts signaling blocks over the
	// whole period, so a miner that upgrades mid-period adds only part of its
	// share; counting it from the next period is the conservative bound.
	SignalWholePeriod bool `toml:"signal_whole_period,omitempty"`
	// PoW (stake mechanisms only): a proof-of-work chain, counted as BIP9
	// counts. Each view is one block whose miner is drawn by hash power
	// (a node's stake is its hash power); the block signals when its miner
	// is upgraded (or signals without upgrading) at that block. The engine
	// tallies the period's signalling blocks against the threshold, so the
	// count is binomial over the period's blocks: at exactly the threshold's
	// hash power a period locks in about half the time. After activation
	// non-upgraded miners keep mining: nobody halts, and their blocks, invalid
	// to upgraded nodes, can grow a chain of their own (a split) instead.
	PoW bool `toml:"pow,omitempty"`

	threshold quorum.Threshold
}

type csvNode struct {
	id, role string
	stake    uint64
}

type cdfPoint struct{ hours, share float64 }

// ConfigError names the key, the value and what is allowed.
type ConfigError struct {
	Key, Problem string
}

func (e *ConfigError) Error() string { return e.Key + ": " + e.Problem }

func cfgErr(key, format string, args ...any) error {
	return &ConfigError{Key: key, Problem: fmt.Sprintf(format, args...)}
}

// LoadConfig reads and validates a TOML config file.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read the config: %w", err)
	}
	return ParseConfig(data, filepath.Dir(path))
}

// ParseConfig reads a TOML config, fills in its defaults and validates it;
// dir resolves relative CSV paths.
func ParseConfig(data []byte, dir string) (*Config, error) {
	c, md, err := decodeConfig(data, dir)
	if err != nil {
		return nil, err
	}
	c.applyDefaults(md)
	found, err := c.validate()
	if err != nil {
		return nil, err
	}
	c.adopt(found)
	c.buildSlots()
	return c, nil
}

// decodeConfig decodes a config's TOML as written: a syntax error names
// its line, and a key the config does not know is an error.
func decodeConfig(data []byte, dir string) (*Config, toml.MetaData, error) {
	c := &Config{dir: dir, raw: data}
	md, err := toml.Decode(string(data), c)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, md, fmt.Errorf("line %d: %s", pe.Position.Line, pe.Message)
		}
		return nil, md, err
	}
	if undecoded := md.Undecoded(); len(undecoded) > 0 {
		keys := make([]string, len(undecoded))
		for i, k := range undecoded {
			keys[i] = k.String()
		}
		sort.Strings(keys)
		return nil, md, cfgErr(keys[0], "unknown key")
	}
	return c, md, nil
}

// applyDefaults fills in the keys a config leaves out. md says which keys
// the file set, for the defaults that depend on whether a key was given at
// all (a liveness window of 0 hours is a choice, not an omission).
func (c *Config) applyDefaults(md toml.MetaData) {
	if c.Runs == 0 {
		c.Runs = 1000
	}
	if c.HorizonEpochs == 0 {
		c.HorizonEpochs = 100
	}
	if !md.IsDefined("liveness_window_hours") {
		c.LivenessWindowHours = 168
	}
	if !md.IsDefined("unsafe_unready") {
		c.UnsafeUnready = 1.0 / 3
	}
	for i := range c.Behaviour.Coalitions {
		if c.Behaviour.Coalitions[i].Target == "" {
			c.Behaviour.Coalitions[i].Target = "largest"
		}
	}
	for i := range c.Behaviour.Outages {
		if c.Behaviour.Outages[i].Probability == nil {
			one := 1.0
			c.Behaviour.Outages[i].Probability = &one
		}
	}
	if c.Chain.ViewSeconds == 0 {
		c.Chain.ViewSeconds = 1
	}
	if !md.IsDefined("chain", "attest_jitter_views") {
		c.Chain.AttestJitterViews = c.Chain.SafetyViews
	}
	for i := range c.Population.Roles {
		if c.Population.Roles[i].StakeScale == 0 {
			c.Population.Roles[i].StakeScale = 1
		}
	}
	if c.Behaviour.Deadline.HurryOnLockIn == nil {
		yes := true
		c.Behaviour.Deadline.HurryOnLockIn = &yes
	}
	if c.Behaviour.Deadline.HurryWindowHours == 0 {
		c.Behaviour.Deadline.HurryWindowHours = 24
	}
	for i := range c.Mechanisms {
		// Only stake and hybrid mechanisms take a threshold: validate
		// rejects a governance mechanism that sets one.
		if m := &c.Mechanisms[i]; m.Kind == "stake" || m.Kind == "hybrid" {
			if m.Threshold == "" {
				m.Threshold = "2/3"
			}
			if m.Strict == nil {
				yes := true
				m.Strict = &yes
			}
		}
	}
}

// found is what validate reads and works out while it checks a config:
// the data of the CSV files it names, the fitted delay, the mechanisms'
// thresholds and a one_at_a_time sweep's baselines. adopt stores it.
type found struct {
	stakeTable []csvNode  // nil unless population.stake is a CSV file
	delayCDF   []cdfPoint // nil unless the delay is empirical
	fit        *delayFit  // nil unless behaviour.delay.fit is given
	thresholds []quorum.Threshold
	oatBases   []any
	paramDecls []activation.ParamDecl // nil unless param_change is given
}

// adopt stores what validate found in the config: a stake table sets the
// node count, and a fit sets the delay's median (and sigma).
func (c *Config) adopt(f *found) {
	if f.stakeTable != nil {
		c.stakeTable = f.stakeTable
		c.Population.Nodes = len(f.stakeTable)
	}
	c.delayCDF = f.delayCDF
	if f.fit != nil {
		c.Behaviour.Delay.MedianHours, c.Behaviour.Delay.Sigma = f.fit.medianHours, f.fit.sigma
		c.calib.fittedSigma = f.fit.fittedSigma
	}
	for i := range c.Mechanisms {
		c.Mechanisms[i].threshold = f.thresholds[i]
	}
	c.oatBases = f.oatBases
	c.paramDecls = f.paramDecls
}

func share(key string, v float64) error {
	if !(v >= 0 && v <= 1) {
		return cfgErr(key, "%v is not a share between 0 and 1", v)
	}
	return nil
}

// validate checks a config whose defaults are applied and returns what it
// found on the way; it does not change the config. The first problem is
// the one reported, a *ConfigError naming its key.
func (c *Config) validate() (*found, error) {
	if err := c.validateTopLevel(); err != nil {
		return nil, err
	}
	var f found
	var err error
	if f.stakeTable, err = c.validatePopulation(); err != nil {
		return nil, err
	}
	nodes := c.Population.Nodes
	if f.stakeTable != nil {
		nodes = len(f.stakeTable)
	}
	if f.fit, f.delayCDF, err = c.validateBehaviour(nodes); err != nil {
		return nil, err
	}
	if len(c.Mechanisms) == 0 {
		return nil, cfgErr("mechanism", "at least one [[mechanism]] is needed")
	}
	if err := c.validateSweep(); err != nil {
		return nil, err
	}
	if c.Sweep != nil && c.Sweep.Method == "one_at_a_time" {
		if f.oatBases, err = c.resolveBases(); err != nil {
			return nil, err
		}
	}
	if f.paramDecls, err = c.validateParamChange(); err != nil {
		return nil, err
	}
	if f.thresholds, err = c.validateMechanisms(f.stakeTable != nil); err != nil {
		return nil, err
	}
	return &f, nil
}

// validateTopLevel checks the run count, the horizon, the liveness window
// and the chain's clock.
func (c *Config) validateTopLevel() error {
	switch {
	case c.Runs < 1:
		return cfgErr("runs", "%d: at least 1 run is needed", c.Runs)
	case c.Chain.EpochViews == 0:
		return cfgErr("chain.epoch_views", "must be at least 1")
	case c.Chain.SafetyViews >= c.Chain.EpochViews:
		return cfgErr("chain.safety_views", "%d must be less than chain.epoch_views (%d)", c.Chain.SafetyViews, c.Chain.EpochViews)
	case !(c.Chain.ViewSeconds > 0):
		return cfgErr("chain.view_seconds", "%v must be positive", c.Chain.ViewSeconds)
	case c.Chain.AttestJitterViews >= c.Chain.EpochViews:
		return cfgErr("chain.attest_jitter_views", "%d must be less than chain.epoch_views", c.Chain.AttestJitterViews)
	case c.HorizonEpochs > 1_000_000:
		return cfgErr("horizon_epochs", "%d: at most 1,000,000", c.HorizonEpochs)
	case !(c.LivenessWindowHours >= 0):
		return cfgErr("liveness_window_hours", "%v must not be negative", c.LivenessWindowHours)
	case c.RobustnessRuns < 0:
		return cfgErr("robustness_runs", "%d must not be negative", c.RobustnessRuns)
	case !(c.UnsafeUnready >= 0 && c.UnsafeUnready < 1):
		return cfgErr("unsafe_unready", "%v is not a share in [0, 1)", c.UnsafeUnready)
	}
	return nil
}

// validateMechanisms checks each mechanism and returns their thresholds
// (zero for governance). rolesFromCSV: the roles come from a stake table,
// so a mechanism's roles are not checked against population.role.
func (c *Config) validateMechanisms(rolesFromCSV bool) ([]quorum.Threshold, error) {
	thresholds := make([]quorum.Threshold, len(c.Mechanisms))
	seen := map[string]bool{}
	for i := range c.Mechanisms {
		m := &c.Mechanisms[i]
		key := fmt.Sprintf("mechanism[%d]", i)
		if m.Name == "" || strings.ContainsAny(m.Name, ",\n\"") {
			return nil, cfgErr(key+".name", "%q: a non-empty name without commas or quotes is needed", m.Name)
		}
		if seen[m.Name] {
			return nil, cfgErr(key+".name", "%q is used twice", m.Name)
		}
		seen[m.Name] = true
		th, err := c.validateMechanism(key, m, rolesFromCSV)
		if err != nil {
			return nil, err
		}
		thresholds[i] = th
	}
	return thresholds, nil
}

// validateMechanism checks one mechanism (named key in errors) and returns
// its threshold.
func (c *Config) validateMechanism(key string, m *MechanismConfig, rolesFromCSV bool) (quorum.Threshold, error) {
	switch m.Kind {
	case "governance", "hybrid":
		delay := c.hoursToViews(m.DelayHours)
		if !(m.DelayHours > 0) || delay <= c.Chain.SafetyViews {
			return quorum.Threshold{}, cfgErr(key+".delay_hours", "%v must be positive and more than chain.safety_views (%d views = %.2f hours)",
				m.DelayHours, c.Chain.SafetyViews, float64(c.Chain.SafetyViews)*c.Chain.ViewSeconds/3600)
		}
	case "stake":
		if m.DelayHours != 0 {
			return quorum.Threshold{}, cfgErr(key+".delay_hours", "applies only to governance and hybrid mechanisms")
		}
	default:
		return quorum.Threshold{}, cfgErr(key+".kind", "%q: allowed are governance, stake, hybrid", m.Kind)
	}
	if err := c.validateWithinHorizon(key, m); err != nil {
		return quorum.Threshold{}, err
	}
	if m.PoW {
		switch {
		case m.Kind != "stake":
			return quorum.Threshold{}, cfgErr(key+".pow", "applies only to stake mechanisms (block signalling)")
		case len(m.Roles) > 0:
			return quorum.Threshold{}, cfgErr(key+".roles", "a pow mechanism counts blocks, not roles")
		case m.SignalWholePeriod:
			return quorum.Threshold{}, cfgErr(key+".signal_whole_period", "a pow mechanism counts each block as its miner signals; leave it out")
		case c.Chain.EpochViews < 2 || c.Chain.EpochViews > maxPoWPeriod:
			return quorum.Threshold{}, cfgErr(key+".pow", "needs chain.epoch_views (blocks per period) between 2 and %d, got %d", maxPoWPeriod, c.Chain.EpochViews)
		}
	}
	if m.Kind == "governance" {
		if m.Threshold != "" || m.TimeoutEpochs != 0 || len(m.Roles) > 0 || m.StartEpoch != 0 || m.DelayEpochs != 0 ||
			m.MinActivationEpoch != 0 || m.Strict != nil || m.SignalWholePeriod {
			return quorum.Threshold{}, cfgErr(key, "threshold, timeout_epochs, roles, start_epoch, delay_epochs, min_activation_epoch, strict "+
				"and signal_whole_period apply only to stake and hybrid mechanisms")
		}
		return quorum.Threshold{}, nil
	}
	if m.StartEpoch >= m.TimeoutEpochs && m.TimeoutEpochs != 0 {
		return quorum.Threshold{}, cfgErr(key+".start_epoch", "%d must be before timeout_epochs (%d)", m.StartEpoch, m.TimeoutEpochs)
	}
	th, err := quorum.ParseThreshold(m.Threshold)
	if err != nil || !th.Valid() {
		return quorum.Threshold{}, cfgErr(key+".threshold", "%q: a fraction num/den with 0 < num < den is needed", m.Threshold)
	}
	if m.TimeoutEpochs == 0 || m.TimeoutEpochs > c.HorizonEpochs {
		return quorum.Threshold{}, cfgErr(key+".timeout_epochs", "%d must be between 1 and horizon_epochs (%d)", m.TimeoutEpochs, c.HorizonEpochs)
	}
	for _, r := range m.Roles {
		if !slices.ContainsFunc(c.Population.Roles, func(rc RoleConfig) bool { return rc.Name == r }) && !rolesFromCSV {
			return quorum.Threshold{}, cfgErr(key+".roles", "role %q is not in population.role", r)
		}
	}
	return th, nil
}

// validateWithinHorizon rejects a mechanism that could not activate before
// the horizon whatever the operators do: a governance view, a hybrid's
// earliest epoch boundary, or a stake deployment's earliest activation
// (lock-in in start_epoch, then the next boundary plus delay_epochs, not
// before min_activation_epoch) at or past horizon_epochs. The simulation
// applies no block at or after the horizon, so such a study would report
// "never activates" for a reason that is the config's, not the model's.
func (c *Config) validateWithinHorizon(key string, m *MechanismConfig) error {
	L, H := c.Chain.EpochViews, c.HorizonEpochs
	horizon := fmt.Sprintf("horizon_epochs %d × chain.epoch_views %d = view %d (%.2f hours)", H, L, H*L, c.viewsToHours(H*L))
	if m.Kind == "governance" || m.Kind == "hybrid" {
		view := c.hoursToViews(m.DelayHours)
		what := fmt.Sprintf("activation view %d", view)
		if m.Kind == "hybrid" {
			view = (view + L - 1) / L * L
			what = fmt.Sprintf("earliest activation at the epoch boundary, view %d", view)
		}
		if view >= H*L {
			return cfgErr(key+".delay_hours", "%v (%s) is at or past the horizon, %s: it could never activate", m.DelayHours, what, horizon)
		}
	}
	if m.Kind == "governance" {
		return nil
	}
	// Saturating: a huge delay_epochs must not wrap around.
	if m.StartEpoch >= H || m.DelayEpochs >= H || m.StartEpoch+1+m.DelayEpochs >= H {
		k, v := "delay_epochs", m.DelayEpochs
		if m.DelayEpochs == 0 || m.StartEpoch >= H {
			k, v = "start_epoch", m.StartEpoch
		}
		return cfgErr(key+"."+k, "%d puts the earliest activation (lock-in in epoch start_epoch %d, activation delay_epochs %d after the next "+
			"boundary) at or past the horizon, %s: it could never activate", v, m.StartEpoch, m.DelayEpochs, horizon)
	}
	if m.MinActivationEpoch >= H {
		return cfgErr(key+".min_activation_epoch", "%d is at or past the horizon, %s: it could never activate", m.MinActivationEpoch, horizon)
	}
	return nil
}

// validatePopulation checks the population and returns the stake table
// when population.stake is a CSV file (nil otherwise).
func (c *Config) validatePopulation() ([]csvNode, error) {
	p := &c.Population
	switch p.Stake.Distribution {
	case "uniform":
		if !(p.Stake.Min > 0 && p.Stake.Max >= p.Stake.Min) {
			return nil, cfgErr("population.stake", "uniform needs 0 < min <= max, got min %v max %v", p.Stake.Min, p.Stake.Max)
		}
	case "pareto":
		if !(p.Stake.Shape > 0 && p.Stake.Scale > 0) {
			return nil, cfgErr("population.stake", "pareto needs shape > 0 and scale > 0, got shape %v scale %v", p.Stake.Shape, p.Stake.Scale)
		}
	case "csv":
		if p.Stake.CSV == "" {
			return nil, cfgErr("population.stake.csv", "the csv distribution needs a file (columns node,role,stake)")
		}
		table, err := loadStakeCSV(filepath.Join(c.dir, p.Stake.CSV))
		if err != nil {
			return nil, cfgErr("population.stake.csv", "%v", err)
		}
		if p.Nodes != 0 && p.Nodes != len(table) {
			return nil, cfgErr("population.nodes", "%d, but the stake table has %d nodes (leave nodes out)", p.Nodes, len(table))
		}
		return table, nil
	default:
		return nil, cfgErr("population.stake.distribution", "%q: allowed are uniform, pareto, csv", p.Stake.Distribution)
	}
	if p.Nodes < 1 || p.Nodes > 1_000_000 {
		return nil, cfgErr("population.nodes", "%d must be between 1 and 1,000,000", p.Nodes)
	}
	if len(p.Roles) == 0 {
		return nil, cfgErr("population.role", "at least one [[population.role]] is needed")
	}
	total := 0.0
	for i, r := range p.Roles {
		key := fmt.Sprintf("population.role[%d]", i)
		if r.Name == "" {
			return nil, cfgErr(key+".name", "must not be empty")
		}
		if !(r.Share > 0) {
			return nil, cfgErr(key+".share", "%v must be positive", r.Share)
		}
		if !(r.StakeScale > 0) {
			return nil, cfgErr(key+".stake_scale", "%v must be positive", r.StakeScale)
		}
		total += r.Share
	}
	if math.Abs(total-1) > 1e-6 {
		return nil, cfgErr("population.role", "the shares add up to %v, not 1", total)
	}
	return nil, nil
}

// validateBehaviour checks how operators behave, for a population of nodes
// nodes, and returns the fitted delay and the empirical delay curve (each
// nil when the config has none).
func (c *Config) validateBehaviour(nodes int) (*delayFit, []cdfPoint, error) {
	fit, cdf, err := c.validateDelay()
	if err != nil {
		return nil, nil, err
	}
	b := &c.Behaviour
	for _, s := range []struct {
		key string
		v   float64
	}{
		{"behaviour.offline_per_epoch", b.OfflinePerEpoch}, {"behaviour.signal_without_upgrade", b.SignalWithoutUpgrade},
		{"behaviour.upgrade_without_signal", b.UpgradeWithoutSignal}, {"behaviour.deadline.hurry_share", b.Deadline.HurryShare},
	} {
		if err := share(s.key, s.v); err != nil {
			return nil, nil, err
		}
	}
	if b.SignalWithoutUpgrade+b.UpgradeWithoutSignal > 1 {
		return nil, nil, cfgErr("behaviour", "signal_without_upgrade + upgrade_without_signal exceed 1")
	}
	if b.Deadline.MarginHours < 0 || b.Deadline.HurryWindowHours < 0 {
		return nil, nil, cfgErr("behaviour.deadline", "margin_hours and hurry_window_hours must not be negative")
	}
	if err := share("behaviour.churn_per_epoch", b.ChurnPerEpoch); err != nil {
		return nil, nil, err
	}
	if joins := float64(c.churnJoinsOf(nodes)); joins+float64(nodes) > 2_000_000 {
		return nil, nil, cfgErr("behaviour.churn_per_epoch", "%v × %d nodes × %d epochs is %.0f joining nodes; at most 2,000,000 nodes in all",
			b.ChurnPerEpoch, nodes, c.HorizonEpochs, joins)
	}
	if err := c.validateClients(); err != nil {
		return nil, nil, err
	}
	if err := c.validateCoalitions(); err != nil {
		return nil, nil, err
	}
	if err := c.validateOutages(); err != nil {
		return nil, nil, err
	}
	return fit, cdf, nil
}

// validateDelay checks the upgrade delay and returns its fit (if
// behaviour.delay.fit is given) and its empirical curve (if empirical).
func (c *Config) validateDelay() (*delayFit, []cdfPoint, error) {
	d := &c.Behaviour.Delay
	fit, err := c.fitDelay()
	if err != nil {
		return nil, nil, err
	}
	switch d.Distribution {
	case "lognormal":
		median, sigma := d.MedianHours, d.Sigma
		if fit != nil {
			median, sigma = fit.medianHours, fit.sigma
		}
		if !(median > 0 && sigma >= 0) {
			return nil, nil, cfgErr("behaviour.delay", "lognormal needs median_hours > 0 and sigma >= 0, got %v and %v", median, sigma)
		}
		return fit, nil, nil
	case "empirical":
		var pts []cdfPoint
		switch {
		case d.CSV != "" && len(d.Points) > 0:
			return nil, nil, cfgErr("behaviour.delay", "give points or csv, not both")
		case d.CSV != "":
			var err error
			if pts, err = loadCDFCSV(filepath.Join(c.dir, d.CSV)); err != nil {
				return nil, nil, cfgErr("behaviour.delay.csv", "%v", err)
			}
		default:
			for i, p := range d.Points {
				if len(p) != 2 {
					return nil, nil, cfgErr(fmt.Sprintf("behaviour.delay.points[%d]", i), "a point is [hours, share]")
				}
				pts = append(pts, cdfPoint{p[0], p[1]})
			}
		}
		if err := checkCDF(pts); err != nil {
			return nil, nil, cfgErr("behaviour.delay.points", "%v", err)
		}
		return fit, pts, nil
	default:
		return nil, nil, cfgErr("behaviour.delay.distribution", "%q: allowed are lognormal, empirical", d.Distribution)
	}
}

// validateClients checks the client implementations, if any: named, and
// shares that add up to 1.
func (c *Config) validateClients() error {
	clients := c.Behaviour.Clients
	if len(clients) == 0 {
		return nil
	}
	total := 0.0
	for i, cl := range clients {
		key := fmt.Sprintf("behaviour.client[%d]", i)
		switch {
		case cl.Name == "":
			return cfgErr(key+".name", "must not be empty")
		case !(cl.Share > 0):
			return cfgErr(key+".share", "%v must be positive", cl.Share)
		case !(cl.SlipHours >= 0):
			return cfgErr(key+".slip_hours", "%v must not be negative", cl.SlipHours)
		}
		if err := share(key+".slip_probability", cl.SlipProbability); err != nil {
			return err
		}
		total += cl.Share
	}
	if math.Abs(total-1) > 1e-6 {
		return cfgErr("behaviour.client", "the shares add up to %v, not 1", total)
	}
	return nil
}

// validateCoalitions checks the coalitions: known actions and targets, and
// no more than all stake between them.
func (c *Config) validateCoalitions() error {
	coalitionStake := 0.0
	for i, co := range c.Behaviour.Coalitions {
		key := fmt.Sprintf("behaviour.coalition[%d]", i)
		if err := share(key+".share", co.Share); err != nil {
			return err
		}
		coalitionStake += co.Share
		if co.Action != "signal_without_upgrade" && co.Action != "withhold" {
			return cfgErr(key+".action", "%q: allowed are signal_without_upgrade, withhold", co.Action)
		}
		if co.Target != "largest" && co.Target != "random" {
			return cfgErr(key+".target", "%q: allowed are largest, random", co.Target)
		}
	}
	if coalitionStake > 1 {
		return cfgErr("behaviour.coalition", "the shares add up to %v, more than all stake", coalitionStake)
	}
	return nil
}

// validateOutages checks the outages' shares, probabilities and times.
func (c *Config) validateOutages() error {
	for i, o := range c.Behaviour.Outages {
		key := fmt.Sprintf("behaviour.outage[%d]", i)
		if err := share(key+".share", o.Share); err != nil {
			return err
		}
		if err := share(key+".probability", *o.Probability); err != nil {
			return err
		}
		if !(o.StartHours >= 0) || !(o.Hours >= 0) {
			return cfgErr(key, "start_hours and hours must not be negative")
		}
	}
	return nil
}

func checkCDF(pts []cdfPoint) error {
	if len(pts) < 2 {
		return errors.New("an empirical CDF needs at least 2 points")
	}
	for i, p := range pts {
		if p.hours < 0 || p.share < 0 || p.share > 1 {
			return fmt.Errorf("point %d (%v h, %v): hours must be >= 0 and share in [0, 1]", i, p.hours, p.share)
		}
		if i > 0 && (p.hours <= pts[i-1].hours || p.share < pts[i-1].share) {
			return fmt.Errorf("point %d: hours must increase and shares must not decrease", i)
		}
	}
	return nil
}

func loadStakeCSV(path string) ([]csvNode, error) {
	rows, err := readCSV(path, []string{"node", "role", "stake"})
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []csvNode
	for i, r := range rows {
		stake, err := strconv.ParseUint(r[2], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s line %d: stake %q is not a whole number", path, i+2, r[2])
		}
		if r[0] == "" || r[1] == "" || seen[r[0]] {
			return nil, fmt.Errorf("%s line %d: node must be non-empty and unique, role non-empty", path, i+2)
		}
		seen[r[0]] = true
		out = append(out, csvNode{r[0], r[1], stake})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no nodes", path)
	}
	return out, nil
}

func loadCDFCSV(path string) ([]cdfPoint, error) {
	rows, err := readCSV(path, []string{"hours", "share"})
	if err != nil {
		return nil, err
	}
	var out []cdfPoint
	for i, r := range rows {
		h, err1 := strconv.ParseFloat(r[0], 64)
		s, err2 := strconv.ParseFloat(r[1], 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("%s line %d: hours and share must be numbers", path, i+2)
		}
		out = append(out, cdfPoint{h, s})
	}
	return out, nil
}

func readCSV(path string, header []string) ([][]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.Comment = '#'
	r.FieldsPerRecord = len(header)
	first, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	if !slices.Equal(first, header) {
		return nil, fmt.Errorf("%s: the header must be %s", path, strings.Join(header, ","))
	}
	var rows [][]string
	for {
		rec, err := r.Read()
		if err == io.EOF {
			return rows, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %v", path, err)
		}
		rows = append(rows, rec)
	}
}

func (c *Config) hoursToViews(h float64) uint64 {
	v := h * 3600 / c.Chain.ViewSeconds
	if v >= math.MaxUint64/2 {
		return math.MaxUint64 / 2
	}
	return uint64(math.Round(v))
}

func (c *Config) viewsToHours(v uint64) float64 { return float64(v) * c.Chain.ViewSeconds / 3600 }
