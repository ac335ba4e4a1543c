package testnet

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/quorumgate/quorumgate/chain"
	"github.com/quorumgate/quorumgate/chain/cometbft"
	"github.com/quorumgate/quorumgate/internal/config"
)

// readCompose reads a Compose file strictly into the structure the
// generator promises: a key it did not mean to write fails.
func readCompose(t *testing.T, path string) (ComposeSpec, map[string]any) {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var spec ComposeSpec
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	require.NoError(t, dec.Decode(&spec), string(data))
	var raw map[string]any
	require.NoError(t, yaml.Unmarshal(data, &raw))
	return spec, raw
}

// The Compose file of either engine: one service per genesis node, running
// node-plugin on its mounted home; each node listens on 0.0.0.0 at the port
// its genesis address names, publishes it as the same port, and dials every
// other node at its service name and ports, on libp2p and CometBFT alike.
func TestComposeFileMatchesGenesis(t *testing.T) {
	for _, eng := range []string{engineDevchain, engineCometBFT} {
		t.Run(eng, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "net")
			path, err := Compose(ComposeOptions{Dir: dir, Nodes: 5, Engine: eng, Image: "example/np:1", User: "1000:1000",
				ViewInterval: 50 * time.Millisecond, EpochViews: 40})
			require.NoError(t, err)
			assert.Equal(t, filepath.Join(dir, ComposeFile), path)
			spec, raw := readCompose(t, path)

			// The generic view: what any Compose implementation reads.
			require.IsType(t, map[string]any{}, raw["services"])
			assert.Len(t, raw["services"], 5)
			assert.Contains(t, raw["networks"], composeNetwork)

			genesis, err := os.ReadFile(filepath.Join(dir, nodesOf(eng, 7)[0].id, "genesis.json"))
			require.NoError(t, err)
			g, err := chain.ParseGenesis(genesis)
			require.NoError(t, err)
			nodes := g.Identities[0].Nodes
			require.Len(t, nodes, 5)
			require.Len(t, spec.Services, 5)

			for i, n := range nodes {
				svc, ok := spec.Services[n.ID]
				require.True(t, ok, "no service for genesis node %s", n.ID)
				home := "/home/" + n.ID
				assert.Equal(t, []string{"node-plugin", "run", "--home", home}, svc.Command, n.ID)
				assert.Equal(t, []string{"./" + n.ID + ":" + home}, svc.Volumes, n.ID)
				assert.Equal(t, "example/np:1", svc.Image)
				assert.Equal(t, "1000:1000", svc.User)
				assert.Equal(t, n.ID, svc.Hostname)
				assert.Equal(t, []string{composeNetwork}, svc.Networks)
				assert.Empty(t, svc.ExtraHosts)

				// Every home holds the same genesis.
				mine, err := os.ReadFile(filepath.Join(dir, n.ID, "genesis.json"))
				require.NoError(t, err)
				assert.Equal(t, genesis, mine, "%s's genesis differs", n.ID)

				p2p, api, comet := ComposeP2PPort+i, ComposeAPIPort+i, ComposeCometPort+10*i
				assert.Equal(t, fmt.Sprintf("/dns4/%s/tcp/%d", n.ID, p2p), n.Address)
				want := []string{fmt.Sprintf("%d:%d", p2p, p2p), fmt.Sprintf("%d:%d", api, api)}
				if eng == engineCometBFT {
					want = append(want, fmt.Sprintf("%d:%d", comet, comet))
				}
				assert.Equal(t, want, svc.Ports, n.ID)

				// The node's config, as node-plugin run reads it in the container.
				cfg, _, err := config.Load(filepath.Join(dir, n.ID), func(string) string { return "" }, nil)
				require.NoError(t, err, n.ID)
				assert.Equal(t, n.ID, cfg.NodeID)
				require.Len(t, cfg.Listen, 1)
				assert.Equal(t, fmt.Sprintf("/ip4/0.0.0.0/tcp/%d", p2p), cfg.Listen[0].String())
				assert.Equal(t, fmt.Sprintf("0.0.0.0:%d", api), cfg.API.Listen)
				var peers, wantPeers []string
				for _, p := range cfg.Peers {
					require.Len(t, p.Addrs, 1)
					peers = append(peers, p.Addrs[0].String()+"/p2p/"+p.ID.String())
				}
				var cometPeers []string
				for j, m := range nodes {
					if m.ID == n.ID {
						continue
					}
					wantPeers = append(wantPeers, m.Address+"/p2p/"+m.PeerID)
					nid, err := cometbft.NodeIDOf(m.PeerID)
					require.NoError(t, err)
					cometPeers = append(cometPeers, fmt.Sprintf("%s@%s:%d", nid, m.ID, ComposeCometPort+10*j))
				}
				assert.Equal(t, wantPeers, peers, "%s's peers are not the genesis addresses", n.ID)
				if eng == engineCometBFT {
					assert.Equal(t, "cometbft", string(cfg.Engine))
					assert.Equal(t, fmt.Sprintf("tcp://0.0.0.0:%d", comet), cfg.CometBFT.P2PListen)
					assert.Equal(t, cometPeers, cfg.CometBFT.PersistentPeers, n.ID)
				} else {
					assert.NotEqual(t, "cometbft", string(cfg.Engine))
				}
			}
			// No two services publish the same host port.
			var all []string
			for _, s := range spec.Services {
				all = append(all, s.Ports...)
			}
			slices.Sort(all)
			assert.Len(t, slices.Compact(all), len(all))
			// The committee's keys are there for propose/cancel by hand.
			keys, err := filepath.Glob(filepath.Join(dir, "governance", "member-*.key"))
			require.NoError(t, err)
			assert.Len(t, keys, 3)
		})
	}
}

// Across hosts: each service resolves the other nodes' names to the hosts
// given, not its own; a node or address that does not exist is refused.
func TestComposeFileHostOf(t *testing.T) {
	hosts := map[string]string{"seq": "10.0.0.1", "c2": "10.0.0.1", "c3": "10.0.0.2", "e1": "10.0.0.2"}
	path, err := Compose(ComposeOptions{Dir: t.TempDir(), Nodes: 4, HostOf: hosts})
	require.NoError(t, err)
	spec, _ := readCompose(t, path)
	assert.Equal(t, []string{"c2:10.0.0.1", "c3:10.0.0.2", "e1:10.0.0.2"}, spec.Services["seq"].ExtraHosts)
	assert.Equal(t, []string{"seq:10.0.0.1", "c2:10.0.0.1", "c3:10.0.0.2"}, spec.Services["e1"].ExtraHosts)
	assert.Equal(t, fmt.Sprintf("%d:%d", os.Getuid(), os.Getgid()), spec.Services["seq"].User)
	assert.Equal(t, DefaultImage, spec.Services["seq"].Image)

	var oe *OptionError
	_, err = Compose(ComposeOptions{Dir: t.TempDir(), Nodes: 4, HostOf: map[string]string{"e3": "10.0.0.1"}})
	require.ErrorAs(t, err, &oe)
	assert.Contains(t, err.Error(), "no node e3")
	_, err = Compose(ComposeOptions{Dir: t.TempDir(), Nodes: 4, HostOf: map[string]string{"seq": "host-a"}})
	require.ErrorAs(t, err, &oe)
	// A folder that holds anything is not overwritten.
	_, err = Compose(ComposeOptions{Dir: filepath.Dir(path), Nodes: 4})
	require.ErrorAs(t, err, &oe)
}

// docker compose config validates the file against the Compose
// specification; only where Docker is installed.
func TestComposeFileDockerConfig(t *testing.T) {
	docker, err := exec.LookPath("docker")
	if err != nil {
		t.Skip("docker is not installed here: the file is checked by TestComposeFileMatchesGenesis and TestComposeFileLoadsWithComposeSpec")
	}
	if out, err := exec.Command(docker, "compose", "version").CombinedOutput(); err != nil {
		t.Skipf("docker has no compose plugin here (%s): the file is checked by TestComposeFileMatchesGenesis and TestComposeFileLoadsWithComposeSpec", bytes.TrimSpace(out))
	}
	for _, eng := range []string{engineDevchain, engineCometBFT} {
		path, err := Compose(ComposeOptions{Dir: t.TempDir(), Nodes: 5, Engine: eng})
		require.NoError(t, err)
		out, err := exec.Command(docker, "compose", "-f", path, "config", "--quiet").CombinedOutput()
		require.NoError(t, err, string(out))
	}
}

// The file loads with compose-go, the Compose specification's reference
// loader (what docker compose config runs): it validates against the spec's
// JSON schema and resolves the volumes against the file's folder, without
// Docker. The project it reads is the one intended.
func TestComposeFileLoadsWithComposeSpec(t *testing.T) {
	for _, eng := range []string{engineDevchain, engineCometBFT} {
		t.Run(eng, func(t *testing.T) {
			dir := t.TempDir()
			path, err := Compose(ComposeOptions{Dir: dir, Nodes: 5, Engine: eng, HostOf: map[string]string{nodesOf(eng, 5)[4].id: "10.0.0.2"}})
			require.NoError(t, err)
			opts, err := cli.NewProjectOptions([]string{path}, cli.WithResolvedPaths(true))
			require.NoError(t, err)
			p, err := opts.LoadProject(context.Background())
			require.NoError(t, err)
			assert.Equal(t, "quorumgate-"+eng, p.Name)
			require.Len(t, p.Services, 5)
			for i, n := range nodesOf(eng, 5) {
				s, ok := p.Services[n.id]
				require.True(t, ok, n.id)
				assert.Equal(t, []string{"node-plugin", "run", "--home", "/home/" + n.id}, []string(s.Command))
				require.Len(t, s.Volumes, 1)
				assert.Equal(t, "bind", s.Volumes[0].Type)
				assert.Equal(t, filepath.Join(dir, n.id), s.Volumes[0].Source)
				assert.Equal(t, "/home/"+n.id, s.Volumes[0].Target)
				assert.Contains(t, s.Networks, composeNetwork)
				var published []string
				for _, port := range s.Ports {
					assert.Equal(t, fmt.Sprint(port.Target), port.Published, n.id)
					published = append(published, port.Published)
				}
				assert.Contains(t, published, fmt.Sprint(ComposeP2PPort+i))
				assert.Equal(t, eng == engineCometBFT, slices.Contains(published, fmt.Sprint(ComposeCometPort+10*i)), n.id)
				if i != 4 {
					assert.Equal(t, []string{"10.0.0.2"}, s.ExtraHosts[nodesOf(eng, 5)[4].id], n.id)
				}
			}
			assert.Contains(t, p.Networks, composeNetwork)
		})
	}
}
