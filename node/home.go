package node

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/quorumgate/quorumgate/p2p"
	"github.com/quorumgate/quorumgate/signal"
)

// The files of a node home.
const (
	StakingKeyFile = "staking.key" // BLS private key, hex, mode 0600
	P2PKeyFile     = "p2p.key"     // libp2p ed25519 key, mode 0600
	AdminTokenFile = "admin.token" // bearer token of the admin API, mode 0600
	ConfigFile     = "config.toml"
)

// Identity is what a node publishes about itself for the genesis file.
type Identity struct {
	NodeID     string `json:"id"`
	StakingKey string `json:"staking_key"`
	PoP        string `json:"pop"`
	PeerID     string `json:"peer_id"`
}

// InitHome creates a node home: staking key, libp2p key, admin token and a
// commented config written by writeConfig. It refuses to touch a folder that
// already holds keys.
func InitHome(dir string, writeConfig func(path string) error) (Identity, error) {
	if _, err := os.Stat(filepath.Join(dir, StakingKeyFile)); err == nil {
		return Identity{}, fmt.Errorf("%s already holds a node (found %s): use another --home, or remove it on purpose", dir, StakingKeyFile)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Identity{}, err
	}
	seed := make([]byte, 32)
	if _, err := rand.Read(seed); err != nil {
		return Identity{}, fmt.Errorf("generate the staking key: %w", err)
	}
	sk, err := signal.GenerateKey(seed)
	if err != nil {
		return Identity{}, err
	}
	if err := WriteFileAtomic(filepath.Join(dir, StakingKeyFile), []byte(hex.EncodeToString(sk.Encode())+"\n"), 0o600); err != nil {
		return Identity{}, fmt.Errorf("write %s: %w", filepath.Join(dir, StakingKeyFile), err)
	}
	if _, err := p2p.LoadOrCreateIdentity(filepath.Join(dir, P2PKeyFile)); err != nil {
		return Identity{}, err
	}
	token := make([]byte, 32)
	if _, err := rand.Read(token); err != nil {
		return Identity{}, fmt.Errorf("generate the admin token: %w", err)
	}
	if err := WriteFileAtomic(filepath.Join(dir, AdminTokenFile), []byte(hex.EncodeToString(token)+"\n"), 0o600); err != nil {
		return Identity{}, fmt.Errorf("write %s: %w", filepath.Join(dir, AdminTokenFile), err)
	}
	if err := writeConfig(filepath.Join(dir, ConfigFile)); err != nil {
		return Identity{}, err
	}
	_, _, id, err := LoadKeys(dir, "")
	return id, err
}

// LoadKeys reads a home's keys and describes the node (nodeID may be empty).
func LoadKeys(dir, nodeID string) (signal.PrivateKey, crypto.PrivKey, Identity, error) {
	path := filepath.Join(dir, StakingKeyFile)
	st, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return signal.PrivateKey{}, nil, Identity{}, fmt.Errorf("%s has no %s: run node-plugin init --home %s first", dir, StakingKeyFile, dir)
	}
	if err != nil {
		return signal.PrivateKey{}, nil, Identity{}, err
	}
	if err := checkPrivate(path, st.Mode()); err != nil {
		return signal.PrivateKey{}, nil, Identity{}, err
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return signal.PrivateKey{}, nil, Identity{}, err
	}
	b, err := hex.DecodeString(strings.TrimSpace(string(raw)))
	if err != nil {
		return signal.PrivateKey{}, nil, Identity{}, fmt.Errorf("%s: not hex", StakingKeyFile)
	}
	sk, err := signal.DecodePrivateKey(b)
	if err != nil {
		return signal.PrivateKey{}, nil, Identity{}, fmt.Errorf("%s: %w", StakingKeyFile, err)
	}
	pk, err := p2p.LoadOrCreateIdentity(filepath.Join(dir, P2PKeyFile))
	if err != nil {
		return signal.PrivateKey{}, nil, Identity{}, err
	}
	pop, err := signal.ProvePossession(sk)
	if err != nil {
		return signal.PrivateKey{}, nil, Identity{}, fmt.Errorf("%s: proof of possession: %w", StakingKeyFile, err)
	}
	pid, err := peer.IDFromPrivateKey(pk)
	if err != nil {
		return signal.PrivateKey{}, nil, Identity{}, fmt.Errorf("%s: peer ID: %w", P2PKeyFile, err)
	}
	return sk, pk, Identity{NodeID: nodeID, StakingKey: sk.PublicKey().String(), PoP: hex.EncodeToString(pop), PeerID: pid.String()}, nil
}

// checkPrivate refuses a secret that group or others can access, as ssh
// refuses a private key: anyone who reads the staking key can sign for the
// node's stake.
func checkPrivate(path string, mode os.FileMode) error {
	if perm := mode.Perm(); perm&0o077 != 0 {
		return fmt.Errorf("%s: permissions %04o are too open: the staking key must not be accessible by group or others; fix it with: chmod 600 %s",
			path, perm, path)
	}
	return nil
}
