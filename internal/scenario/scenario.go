// Package scenario reads the scenario files of `node-plugin replay` (DESIGN.md
// "Scenario files") and runs them through the pure engine.
//
// A file is validated whole before anything runs, and every problem is an
// *InputError naming the JSON path where it is. What is wrong inside a block
// (a malformed version, a bad window, an unknown signer) is protocol data and
// is left to activation.Apply, which rejects it with a reason.
package scenario

import (
	"fmt"
	"math/bits"
	"os"
	"slices"
	"sort"

	"github.com/Masterminds/semver/v3"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/internal/strictjson"
	"github.com/quorumgate/quorumgate/quorum"
)

// InputError is bad input: what is wrong and where.
type InputError = strictjson.InputError

// Scenario is a validated scenario, ready to run.
type Scenario struct {
	Params    *activation.Params
	Versions  map[string]string
	UntilView uint64
	// Missing views, sorted and without repeats.
	Missing []uint64
	Blocks  []Block
}

// Block is a listed block; unlisted views carry empty blocks.
type Block struct {
	View      uint64
	Proposals []activation.Proposal
	Cancels   []string
	Readiness []activation.Readiness
}

// Load reads and validates a scenario file.
func Load(path string) (*Scenario, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &InputError{What: fmt.Sprintf("cannot read the scenario file: %v", err)}
	}
	return Parse(data)
}

// Parse validates a scenario.
func Parse(data []byte) (*Scenario, error) {
	root, err := strictjson.Decode(data)
	if err != nil {
		return nil, err
	}
	top, err := strictjson.Object(root, "", []string{"chain", "genesis", "identities", "until_view", "missing_views", "blocks"},
		[]string{"chain", "until_view"})
	if err != nil {
		return nil, err
	}
	sc := &Scenario{Params: &activation.Params{}, Versions: map[string]string{}}
	if err := sc.parseChain(top["chain"]); err != nil {
		return nil, err
	}
	if g, ok := top["genesis"]; ok {
		if err := sc.parseGenesis(g); err != nil {
			return nil, err
		}
	}
	var steps []quorum.ScheduleEntry
	if ids, ok := top["identities"]; ok {
		if steps, err = parseIdentities(ids); err != nil {
			return nil, err
		}
	}
	if sc.Params.Identities, err = quorum.NewSchedule(steps); err != nil {
		return nil, strictjson.Errorf("identities", "%v", err)
	}
	if sc.UntilView, err = strictjson.Uint64(top["until_view"], "until_view"); err != nil {
		return nil, err
	}
	if mv, ok := top["missing_views"]; ok {
		if err := sc.parseMissing(mv); err != nil {
			return nil, err
		}
	}
	if uint64(len(sc.Missing)) > sc.UntilView {
		return nil, strictjson.Errorf("missing_views", "every view from 0 to until_view %d is missing: there is no block to apply", sc.UntilView)
	}
	if bl, ok := top["blocks"]; ok {
		if err := sc.parseBlocks(bl); err != nil {
			return nil, err
		}
	}
	return sc, nil
}

func (sc *Scenario) parseChain(v any) error {
	m, err := strictjson.Object(v, "chain", []string{"id", "epoch_views", "safety_views"}, []string{"id", "epoch_views", "safety_views"})
	if err != nil {
		return err
	}
	p := sc.Params
	if p.ChainID, err = strictjson.NonEmptyString(m["id"], "chain.id"); err != nil {
		return err
	}
	if p.EpochViews, err = strictjson.Uint64(m["epoch_views"], "chain.epoch_views"); err != nil {
		return err
	}
	if p.EpochViews == 0 {
		return strictjson.Errorf("chain.epoch_views", "must be at least 1")
	}
	if p.SafetyViews, err = strictjson.Uint64(m["safety_views"], "chain.safety_views"); err != nil {
		return err
	}
	if p.SafetyViews >= p.EpochViews {
		return strictjson.Errorf("chain.safety_views", "must be less than epoch_views (%d), got %d", p.EpochViews, p.SafetyViews)
	}
	return nil
}

func (sc *Scenario) parseGenesis(v any) error {
	m, err := strictjson.Object(v, "genesis", []string{"versions"}, nil)
	if err != nil {
		return err
	}
	vs, ok := m["versions"]
	if !ok {
		return nil
	}
	vm, ok := vs.(map[string]any)
	if !ok {
		return strictjson.Errorf("genesis.versions", "expected an object of component names to versions, got %s", strictjson.Describe(vs))
	}
	for _, c := range sortedKeys(vm) {
		path := "genesis.versions." + c
		if c == "" {
			return strictjson.Errorf("genesis.versions", "a component name is empty")
		}
		s, err := strictjson.String(vm[c], path)
		if err != nil {
			return err
		}
		if _, err := semver.StrictNewVersion(s); err != nil {
			return strictjson.Errorf(path, "%q is not a semantic version (MAJOR.MINOR.PATCH): %v", s, err)
		}
		sc.Versions[c] = s
	}
	return nil
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func parseIdentities(v any) ([]quorum.ScheduleEntry, error) {
	list, err := strictjson.Array(v, "identities")
	if err != nil {
		return nil, err
	}
	var steps []quorum.ScheduleEntry
	for i, x := range list {
		path := strictjson.Index("identities", i)
		m, err := strictjson.Object(x, path, []string{"from_epoch", "nodes"}, []string{"from_epoch", "nodes"})
		if err != nil {
			return nil, err
		}
		from, err := strictjson.Uint64(m["from_epoch"], path+".from_epoch")
		if err != nil {
			return nil, err
		}
		if i > 0 && from <= steps[i-1].FromEpoch {
			return nil, strictjson.Errorf(path+".from_epoch", "must be greater than the previous entry's from_epoch (%d), got %d", steps[i-1].FromEpoch, from)
		}
		nodes, err := strictjson.Array(m["nodes"], path+".nodes")
		if err != nil {
			return nil, err
		}
		ids := make([]quorum.Identity, len(nodes))
		seen := map[string]bool{}
		var total uint64
		for j, n := range nodes {
			npath := strictjson.Index(path+".nodes", j)
			nm, err := strictjson.Object(n, npath, []string{"id", "role", "stake"}, []string{"id", "role", "stake"})
			if err != nil {
				return nil, err
			}
			if ids[j].NodeID, err = strictjson.NonEmptyString(nm["id"], npath+".id"); err != nil {
				return nil, err
			}
			if seen[ids[j].NodeID] {
				return nil, strictjson.Errorf(npath+".id", "node %q appears twice in this identity table", ids[j].NodeID)
			}
			seen[ids[j].NodeID] = true
			if ids[j].Role, err = strictjson.NonEmptyString(nm["role"], npath+".role"); err != nil {
				return nil, err
			}
			if ids[j].Stake, err = strictjson.Uint64(nm["stake"], npath+".stake"); err != nil {
				return nil, err
			}
			var carry uint64
			if total, carry = bits.Add64(total, ids[j].Stake, 0); carry != 0 {
				return nil, strictjson.Errorf(npath+".stake", "the total stake of this identity table exceeds 2^64-1")
			}
		}
		table, err := quorum.NewTable(ids)
		if err != nil {
			return nil, strictjson.Errorf(path, "%v", err)
		}
		steps = append(steps, quorum.ScheduleEntry{FromEpoch: from, Table: table})
	}
	return steps, nil
}

func (sc *Scenario) parseMissing(v any) error {
	list, err := strictjson.Array(v, "missing_views")
	if err != nil {
		return err
	}
	for i, x := range list {
		mv, err := strictjson.Uint64(x, strictjson.Index("missing_views", i))
		if err != nil {
			return err
		}
		if mv > sc.UntilView {
			return strictjson.Errorf(strictjson.Index("missing_views", i), "view %d is after until_view %d", mv, sc.UntilView)
		}
		sc.Missing = append(sc.Missing, mv)
	}
	slices.Sort(sc.Missing)
	sc.Missing = slices.Compact(sc.Missing)
	return nil
}

func (sc *Scenario) isMissing(v uint64) bool {
	_, found := slices.BinarySearch(sc.Missing, v)
	return found
}

func (sc *Scenario) parseBlocks(v any) error {
	list, err := strictjson.Array(v, "blocks")
	if err != nil {
		return err
	}
	for i, x := range list {
		path := strictjson.Index("blocks", i)
		m, err := strictjson.Object(x, path, []string{"view", "proposals", "cancels", "attestations"}, []string{"view"})
		if err != nil {
			return err
		}
		var b Block
		if b.View, err = strictjson.Uint64(m["view"], path+".view"); err != nil {
			return err
		}
		switch {
		case i > 0 && b.View <= sc.Blocks[i-1].View:
			return strictjson.Errorf(path+".view", "blocks must be in strictly increasing view order: %d does not come after %d", b.View, sc.Blocks[i-1].View)
		case b.View > sc.UntilView:
			return strictjson.Errorf(path+".view", "view %d is after until_view %d", b.View, sc.UntilView)
		case sc.isMissing(b.View):
			return strictjson.Errorf(path+".view", "view %d is listed in missing_views", b.View)
		}
		if ps, ok := m["proposals"]; ok {
			plist, err := strictjson.Array(ps, path+".proposals")
			if err != nil {
				return err
			}
			for j, p := range plist {
				prop, err := parseProposal(p, strictjson.Index(path+".proposals", j))
				if err != nil {
					return err
				}
				b.Proposals = append(b.Proposals, prop)
			}
		}
		if cs, ok := m["cancels"]; ok {
			if b.Cancels, err = strictjson.Strings(cs, path+".cancels"); err != nil {
				return err
			}
		}
		if as, ok := m["attestations"]; ok {
			alist, err := strictjson.Array(as, path+".attestations")
			if err != nil {
				return err
			}
			for j, a := range alist {
				apath := strictjson.Index(path+".attestations", j)
				am, err := strictjson.Object(a, apath, []string{"deployment", "epoch", "nodes"}, []string{"deployment", "epoch", "nodes"})
				if err != nil {
					return err
				}
				dep, err := strictjson.String(am["deployment"], apath+".deployment")
				if err != nil {
					return err
				}
				epoch, err := strictjson.Uint64(am["epoch"], apath+".epoch")
				if err != nil {
					return err
				}
				nodes, err := strictjson.Strings(am["nodes"], apath+".nodes")
				if err != nil {
					return err
				}
				for _, n := range nodes {
					b.Readiness = append(b.Readiness, activation.Readiness{Deployment: dep, Epoch: epoch, Node: n})
				}
			}
		}
		sc.Blocks = append(sc.Blocks, b)
	}
	return nil
}

var (
	stakeOnly      = []string{"roles", "threshold", "start_epoch", "timeout_epoch", "min_activation_epoch", "delay_epochs"}
	governanceOnly = []string{"activation_view"}
)

func parseProposal(v any, path string) (activation.Proposal, error) {
	allowed := append([]string{"name", "component", "version", "mode"}, append(stakeOnly, governanceOnly...)...)
	m, err := strictjson.Object(v, path, allowed, []string{"name", "component", "version"})
	if err != nil {
		return activation.Proposal{}, err
	}
	var p activation.Proposal
	if p.Name, err = strictjson.NonEmptyString(m["name"], path+".name"); err != nil {
		return p, err
	}
	if p.Component, err = strictjson.NonEmptyString(m["component"], path+".component"); err != nil {
		return p, err
	}
	// A malformed version is protocol data (rejected as "bad version"), but it must be a string.
	if p.Version, err = strictjson.String(m["version"], path+".version"); err != nil {
		return p, err
	}
	p.Mode = activation.Stake
	if mv, ok := m["mode"]; ok {
		s, err := strictjson.String(mv, path+".mode")
		if err != nil {
			return p, err
		}
		if p.Mode, ok = activation.ParseMode(s); !ok {
			return p, strictjson.Errorf(path+".mode", "must be \"stake\" or \"governance\", got %q", s)
		}
	}
	if p.Mode == activation.Governance {
		for _, f := range stakeOnly {
			if _, ok := m[f]; ok {
				return p, strictjson.Errorf(strictjson.Join(path, f), "applies only to stake-mode proposals, and this one is governance mode")
			}
		}
		if _, ok := m["activation_view"]; !ok {
			return p, strictjson.Errorf(path, "missing required field \"activation_view\" (governance mode)")
		}
		p.ActivationView, err = strictjson.Uint64(m["activation_view"], path+".activation_view")
		return p, err
	}
	if _, ok := m["activation_view"]; ok {
		return p, strictjson.Errorf(path+".activation_view", "applies only to governance-mode proposals, and this one is stake mode")
	}
	for _, f := range []string{"start_epoch", "timeout_epoch"} {
		if _, ok := m[f]; !ok {
			return p, strictjson.Errorf(path, "missing required field %q (stake mode)", f)
		}
	}
	fields := map[string]*uint64{"start_epoch": &p.StartEpoch, "timeout_epoch": &p.TimeoutEpoch,
		"min_activation_epoch": &p.MinActivationEpoch, "delay_epochs": &p.DelayEpochs}
	for _, f := range []string{"start_epoch", "timeout_epoch", "min_activation_epoch", "delay_epochs"} {
		if x, ok := m[f]; ok {
			if *fields[f], err = strictjson.Uint64(x, strictjson.Join(path, f)); err != nil {
				return p, err
			}
		}
	}
	p.Threshold = quorum.TwoThirds
	if t, ok := m["threshold"]; ok {
		s, err := strictjson.String(t, path+".threshold")
		if err != nil {
			return p, err
		}
		if p.Threshold, err = quorum.ParseThreshold(s); err != nil {
			return p, strictjson.Errorf(path+".threshold", "%q: %v", s, err)
		}
	}
	if r, ok := m["roles"]; ok {
		if p.Roles, err = strictjson.Strings(r, path+".roles"); err != nil {
			return p, err
		}
	}
	return p, nil
}
