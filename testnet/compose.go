package testnet

import (
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/quorumgate/quorumgate/node"
)

// A Compose testnet is a fresh testnet folder (homes, genesis, governance
// keys) whose nodes run in containers, with ComposeFile describing them to
// Docker Compose. Its genesis names each node by its Compose service name
// (/dns4/ID/tcp/PORT), so the same genesis holds on one host (Compose's
// network resolves the names) and on several (each host maps every name to
// the address of the host running that node, with extra_hosts). Each node
// has its own ports, the same inside its container and published on its
// host, so an address is right wherever it is dialled from.

// ComposeFile is the Compose file, in the testnet folder.
const ComposeFile = "compose.yaml"

// DefaultImage is the image the Compose file runs: build it from the
// repository with deploy/docker/Dockerfile.
const DefaultImage = "quorumgate/node-plugin:dev"

// composeNetwork is the Compose network the nodes share.
const composeNetwork = "quorumgate"

// Compose ports: node i (from 0) listens for libp2p on ComposeP2PPort+i, its
// API on ComposeAPIPort+i and CometBFT's p2p on ComposeCometPort+10*i. The
// admin API stays on the container's loopback and is not published.
const (
	ComposeP2PPort   = 7001
	ComposeAPIPort   = 8001
	ComposeAdminPort = 9001
	ComposeCometPort = 26656
)

// ComposeOptions configure Compose.
type ComposeOptions struct {
	Dir          string
	Nodes        int // 4 (5 on CometBFT) to MaxNodes, default 7
	Seed         uint64
	ViewInterval time.Duration // default 100ms
	EpochViews   uint64        // default 100
	Engine       string        // devchain (default) or cometbft
	Image        string        // default DefaultImage
	// HostOf maps node IDs to the address of the host that runs them, for a
	// testnet across hosts: every service then resolves those names there.
	HostOf map[string]string
	// User is the user:group the containers run as (default: this process's),
	// so the nodes can read their 0600 keys and what they write stays the
	// caller's.
	User string
	Out  io.Writer
}

// ComposeSpec is the part of the Compose specification the file uses.
type ComposeSpec struct {
	Name     string                    `yaml:"name"`
	Services map[string]ComposeService `yaml:"services"`
	Networks map[string]struct{}       `yaml:"networks"`
}

// ComposeService is one node.
type ComposeService struct {
	Image      string   `yaml:"image"`
	Hostname   string   `yaml:"hostname"`
	User       string   `yaml:"user,omitempty"`
	Command    []string `yaml:"command"`
	Volumes    []string `yaml:"volumes"`
	Ports      []string `yaml:"ports"`
	Networks   []string `yaml:"networks"`
	ExtraHosts []string `yaml:"extra_hosts,omitempty"`
	Restart    string   `yaml:"restart"`
}

// Compose creates a testnet folder in o.Dir for containers and writes its
// ComposeFile; it starts nothing. It returns the file's path.
func Compose(o ComposeOptions) (string, error) {
	if o.Dir == "" {
		o.Dir = DefaultDir()
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return "", err
	}
	if o.Engine, err = checkEngine(o.Engine); err != nil {
		return "", err
	}
	if o.Nodes, err = nodeCount(o.Nodes, o.Engine); err != nil {
		return "", err
	}
	if o.ViewInterval, o.EpochViews, err = pace(o.ViewInterval, o.EpochViews, 100*time.Millisecond, 100); err != nil {
		return "", err
	}
	list := nodesOf(o.Engine, o.Nodes)
	for id, h := range o.HostOf {
		if !slices.ContainsFunc(list, func(n nodeSpec) bool { return n.id == id }) {
			return "", badOption("--host-of %s=%s: no node %s in a %d-node %s testnet", id, h, id, o.Nodes, o.Engine)
		}
		if net.ParseIP(h) == nil {
			return "", badOption("--host-of %s=%s: not an IP address", id, h)
		}
	}
	if o.Image == "" {
		o.Image = DefaultImage
	}
	if o.User == "" {
		o.User = fmt.Sprintf("%d:%d", os.Getuid(), os.Getgid())
	}
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return "", badOption("%s is not empty: a Compose testnet needs a new folder", dir)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	ports := map[string]nodePorts{}
	for i, n := range list {
		ports[n.id] = nodePorts{p2p: ComposeP2PPort + i, api: ComposeAPIPort + i, admin: ComposeAdminPort + i, comet: ComposeCometPort + 10*i}
	}
	plan := netPlan{ports: ports, proto: "dns4", host: func(id string) string { return id }, bind: "0.0.0.0", apiBind: "0.0.0.0"}
	_, keys, _, err := writeHomesOn(dir, plan, list, o.Seed, o.ViewInterval, o.EpochViews, o.Engine)
	if err != nil {
		return "", err
	}
	if _, err := writeGovernanceKeys(dir, keys); err != nil {
		return "", err
	}
	data, err := yaml.Marshal(composeSpec(list, plan, o))
	if err != nil {
		return "", fmt.Errorf("encode the Compose file: %w", err)
	}
	path := filepath.Join(dir, ComposeFile)
	if err := node.WriteFileAtomic(path, data, 0o644); err != nil {
		return "", err
	}
	return path, nil
}

// composeSpec is the Compose file of the nodes in list.
func composeSpec(list []nodeSpec, plan netPlan, o ComposeOptions) ComposeSpec {
	spec := ComposeSpec{Name: "quorumgate-" + o.Engine, Services: map[string]ComposeService{}, Networks: map[string]struct{}{composeNetwork: {}}}
	var extra []string
	for _, n := range list {
		if h, ok := o.HostOf[n.id]; ok {
			extra = append(extra, n.id+":"+h)
		}
	}
	for _, n := range list {
		pp := plan.ports[n.id]
		published := []int{pp.p2p, pp.api}
		if o.Engine == engineCometBFT {
			published = append(published, pp.comet)
		}
		var portList []string
		for _, p := range published {
			portList = append(portList, strconv.Itoa(p)+":"+strconv.Itoa(p))
		}
		home := "/home/" + n.id
		spec.Services[n.id] = ComposeService{
			Image: o.Image, Hostname: n.id, User: o.User,
			Command:  []string{"node-plugin", "run", "--home", home},
			Volumes:  []string{"./" + n.id + ":" + home},
			Ports:    portList,
			Networks: []string{composeNetwork},
			// Not the node's own name: it listens on 0.0.0.0 in its container.
			ExtraHosts: slices.DeleteFunc(slices.Clone(extra), func(e string) bool { return strings.HasPrefix(e, n.id+":") }),
			// CometBFT resolves its persistent peers' names when it starts;
			// a peer whose container is not up yet fails it, and Compose
			// starts it again.
			Restart: "on-failure",
		}
	}
	return spec
}
