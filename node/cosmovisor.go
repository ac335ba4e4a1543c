package node

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/quorumgate/quorumgate/activation"
)

// Cosmovisor's handshake. Cosmovisor watches DAEMON_HOME/data/upgrade-info.json
// (x/upgrade's Plan as JSON: name, height, info); when it appears it stops
// the node and starts DAEMON_HOME/cosmovisor/upgrades/<name>/bin/<DAEMON_NAME>.
// With DAEMON_HOME set to the node's home and DAEMON_NAME=node-plugin, a node
// that halts for a version it does not run writes that file, and Cosmovisor
// switches to the node-plugin the operator put under the deployment's name.

// CosmovisorInfoFile is where Cosmovisor looks, relative to the node home.
const CosmovisorInfoFile = "data/upgrade-info.json"

// CosmovisorInfo is the file's content, in x/upgrade's Plan field names.
type CosmovisorInfo struct {
	// Name is the deployment, lowercased as Cosmovisor lowercases it to find
	// cosmovisor/upgrades/<name>.
	Name string `json:"name"`
	// Height is the first block the new binary must apply: the one this
	// node halted before. Cosmovisor requires it positive.
	Height int64 `json:"height"`
	// Info says what the new binary must support, as JSON.
	Info string `json:"info"`
}

// CosmovisorUpgrade describes a halt to Cosmovisor. The info is a JSON
// object naming the deployment, component, version and activation view.
func CosmovisorUpgrade(he *HaltError, height uint64) CosmovisorInfo {
	// Strings and a number always encode: Marshal cannot fail here.
	info, _ := json.Marshal(map[string]any{"deployment": he.Deployment, "component": he.Component, "version": he.Version,
		"activation_view": he.ActivationView, "requires": he.Component + "=" + he.Version})
	return CosmovisorInfo{Name: strings.ToLower(he.Deployment), Height: int64(height), Info: string(info)}
}

// WriteCosmovisorInfo writes home/data/upgrade-info.json atomically: a
// watcher never reads half a file.
func WriteCosmovisorInfo(home string, ci CosmovisorInfo) error {
	if ci.Name == "" || ci.Height <= 0 {
		return fmt.Errorf("cosmovisor upgrade-info: needs a name and a positive height, got %q at %d", ci.Name, ci.Height)
	}
	path := filepath.Join(home, CosmovisorInfoFile)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	data, err := json.Marshal(ci)
	if err != nil {
		return fmt.Errorf("cosmovisor upgrade-info: %w", err)
	}
	return WriteFileAtomic(path, append(data, '\n'), 0o644)
}

// handOverToCosmovisor records a halt for Cosmovisor. The height is the
// block the node stopped before: the next one, or, when the version is
// already active (a restart of an old binary), the block it activated at.
func (n *Node) handOverToCosmovisor(he *HaltError) {
	head := n.chain.Head()
	height, _, _ := head.Head()
	height++
	if d, ok := head.Deployment(he.Deployment); ok && d.Status == activation.Active {
		if h, err := n.store.HeightAtView(d.Since); err == nil {
			height = h
		} else {
			n.log.Error("the activation's height; telling cosmovisor the next one", "deployment", he.Deployment, "view", d.Since,
				"height", height, "err", err)
		}
	}
	if err := WriteCosmovisorInfo(n.cfg.Home, CosmovisorUpgrade(he, height)); err != nil {
		n.log.Error("write "+CosmovisorInfoFile+" for cosmovisor", "err", err)
		return
	}
	n.log.Info("wrote "+CosmovisorInfoFile+" for cosmovisor", "upgrade", strings.ToLower(he.Deployment), "height", height)
}
