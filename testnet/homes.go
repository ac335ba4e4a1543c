package testnet

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/quorumgate/quorumgate/chain"
	"github.com/quorumgate/quorumgate/chain/cometbft"
	"github.com/quorumgate/quorumgate/node"
)

// writeHomes generates a genesis and keys for n nodes and writes each
// node's home (keys, admin token, config, genesis). The nodes' libp2p
// addresses use host; their HTTP APIs stay on loopback. Ports are free ones.
//
// On the cometbft engine each node also gets a CometBFT p2p port on host,
// and every other node as a persistent peer.
func writeHomes(dir, host string, nodes int, seed uint64, viewInterval time.Duration, epochViews uint64, engine string) (*chain.Genesis, *chain.Keys, []*proc, error) {
	list := nodesOf(engine, nodes)
	ports, err := pickPorts(host, list)
	if err != nil {
		return nil, nil, nil, err
	}
	return writeHomesOn(dir, localPlan(host, ports), list, seed, viewInterval, epochViews, engine)
}

// netPlan is where a testnet's nodes listen and how they reach each other.
type netPlan struct {
	ports map[string]nodePorts
	// proto and host(id) make the address others dial node id at:
	// /PROTO/HOST/tcp/PORT for libp2p (in the genesis), HOST:PORT for
	// CometBFT's persistent peers.
	proto string
	host  func(id string) string
	// bind is the host the nodes' libp2p and CometBFT p2p listen on;
	// apiBind their public API's.
	bind, apiBind string
}

// localPlan: every node on one machine, at host, the APIs on loopback.
func localPlan(host string, ports map[string]nodePorts) netPlan {
	return netPlan{ports: ports, proto: "ip4", host: func(string) string { return host }, bind: host, apiBind: "127.0.0.1"}
}

// writeHomesOn is writeHomes with the addresses of plan.
func writeHomesOn(dir string, plan netPlan, list []nodeSpec, seed uint64, viewInterval time.Duration, epochViews uint64, engine string) (*chain.Genesis, *chain.Keys, []*proc, error) {
	ports := plan.ports
	var specs []chain.NodeSpec
	for _, n := range list {
		specs = append(specs, chain.NodeSpec{ID: n.id, Role: n.role, Stake: n.stake, Address: fmt.Sprintf("/%s/%s/tcp/%d", plan.proto, plan.host(n.id), ports[n.id].p2p)})
	}
	g, keys, err := chain.GenerateGenesis(chain.GenerateOptions{ChainID: "demo", EpochViews: epochViews, SafetyViews: epochViews / 10,
		Versions: map[string]string{"protocol": "1.0.0"}, ParamDecls: paramDecls(epochViews), Nodes: specs,
		GovernanceMembers: 3, GovernanceThreshold: 2,
		Seed: []byte(fmt.Sprint("demo", seed))})
	if err != nil {
		return nil, nil, nil, err
	}
	genesis, err := g.MarshalJSON()
	if err != nil {
		return nil, nil, nil, fmt.Errorf("encode the genesis: %w", err)
	}
	var procs []*proc
	for _, n := range list {
		home := filepath.Join(dir, n.id)
		if err := os.MkdirAll(home, 0o700); err != nil {
			return nil, nil, nil, err
		}
		p2pKey, err := crypto.MarshalPrivateKey(keys.P2P[n.id])
		if err != nil {
			return nil, nil, nil, fmt.Errorf("encode %s's libp2p key: %w", n.id, err)
		}
		cfg, err := nodeConfig(n.id, plan, list, g, keys, viewInterval, engine)
		if err != nil {
			return nil, nil, nil, err
		}
		files := map[string][]byte{
			node.StakingKeyFile: []byte(hex.EncodeToString(keys.Staking[n.id].Encode()) + "\n"),
			node.P2PKeyFile:     p2pKey,
			node.AdminTokenFile: []byte(rand.Text() + "\n"),
			node.ConfigFile:     []byte(cfg),
			"genesis.json":      genesis,
		}
		for name, data := range files {
			if err := node.WriteFileAtomic(filepath.Join(home, name), data, 0o600); err != nil {
				return nil, nil, nil, err
			}
		}
		pp := ports[n.id]
		procs = append(procs, &proc{id: n.id, role: n.role, stake: n.stake, home: home,
			api: fmt.Sprintf("127.0.0.1:%d", pp.api), admin: fmt.Sprintf("127.0.0.1:%d", pp.admin)})
	}
	return g, keys, procs, nil
}

// nodePorts are a node's ports: libp2p and CometBFT's p2p on the testnet's
// host, the public and admin APIs on loopback.
type nodePorts struct {
	p2p, api, admin, comet int
}

// pickPorts picks free ports for every node.
func pickPorts(host string, list []nodeSpec) (map[string]nodePorts, error) {
	ports, pick := map[string]nodePorts{}, newPortPicker()
	for _, n := range list {
		var pp [4]int // in nodePorts' order
		for i := range pp {
			h := "127.0.0.1"
			if i == 0 || i == 3 {
				h = host
			}
			port, err := pick.free(h)
			if err != nil {
				return nil, err
			}
			pp[i] = port
		}
		ports[n.id] = nodePorts{p2p: pp[0], api: pp[1], admin: pp[2], comet: pp[3]}
	}
	return ports, nil
}

// hookScript is every testnet node's hook: a line in HOME/hook.log per
// activation, naming the deployment and what it set (a version, or a
// parameter's new value), the activation view and the block that ran it.
const hookScript = `echo "activated $QUORUMGATE_DEPLOYMENT ` +
	`${QUORUMGATE_PARAM:+$QUORUMGATE_PARAM=$QUORUMGATE_VALUE}$QUORUMGATE_VERSION ` +
	`from view $QUORUMGATE_ACTIVATION_VIEW at height $QUORUMGATE_HEIGHT" >> hook.log`

// largeTestnet is the size past which a testnet's nodes stop dialling every
// other node: up to it they do (as testnets always did), past it each dials
// genesisDials of them (node.PickGenesisDials), libp2p and CometBFT alike.
const (
	largeTestnet = 9
	genesisDials = 8
)

// dialsFor is the genesis_dials of a testnet of n nodes (0: all).
func dialsFor(n int) int {
	if n <= largeTestnet {
		return 0
	}
	return genesisDials
}

// nodeConfig is node id's config file: every other node as a static peer,
// or in a large testnet genesis_dials instead, and on CometBFT its p2p port
// and the same nodes as persistent peers.
func nodeConfig(id string, plan netPlan, list []nodeSpec, g *chain.Genesis, keys *chain.Keys,
	viewInterval time.Duration, engine string) (string, error) {
	ports := plan.ports
	dials := dialsFor(len(list))
	peerOf := map[peer.ID]string{}
	var candidates []peer.AddrInfo
	var self peer.ID
	for _, m := range g.Identities[0].Nodes {
		pid, err := peer.Decode(m.PeerID)
		if err != nil {
			return "", fmt.Errorf("node %s's peer ID: %w", m.ID, err)
		}
		peerOf[pid] = m.ID
		if m.ID == id {
			self = pid
			continue
		}
		candidates = append(candidates, peer.AddrInfo{ID: pid})
	}
	dialled := map[string]bool{}
	if dials > 0 {
		for _, p := range node.PickGenesisDials(candidates, self, dials) {
			dialled[peerOf[p.ID]] = true
		}
	}
	// A large testnet lists no peers: the node picks the same ones from the
	// genesis by itself (configured peers would come on top of them).
	var peers []string
	for _, m := range g.Identities[0].Nodes {
		if m.ID != id && dials == 0 {
			peers = append(peers, fmt.Sprintf("%q", m.Address+"/p2p/"+m.PeerID))
		}
	}
	pp := ports[id]
	cfg := fmt.Sprintf(`node_id = %q
genesis = "genesis.json"
listen = ["/ip4/%s/tcp/%d"]
peers = [%s]
genesis_dials = %d
supported = ["protocol=1.0.0"]
view_interval = %q
hook = ["sh", "-c", %q]
[api]
listen = "%s:%d"
admin = "127.0.0.1:%d"
`, id, plan.bind, pp.p2p, strings.Join(peers, ", "), dials, viewInterval.String(), hookScript, plan.apiBind, pp.api, pp.admin)
	if engine != engineCometBFT {
		return cfg, nil
	}
	var cpeers []string
	for _, m := range list {
		if m.id == id || (dials > 0 && !dialled[m.id]) {
			continue
		}
		nid, err := cometbft.NodeID(keys.P2P[m.id])
		if err != nil {
			return "", err
		}
		cpeers = append(cpeers, fmt.Sprintf("%q", fmt.Sprintf("%s@%s:%d", nid, plan.host(m.id), ports[m.id].comet)))
	}
	return "engine = \"cometbft\"\n" + cfg + fmt.Sprintf("[cometbft]\np2p_listen = \"tcp://%s:%d\"\npersistent_peers = [%s]\n",
		plan.bind, pp.comet, strings.Join(cpeers, ", ")), nil
}
