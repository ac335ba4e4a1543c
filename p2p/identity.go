package p2p

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/quorumgate/quorumgate/internal/atomicfile"
)

// LoadOrCreateIdentity returns the node's libp2p key from path, creating an
// ed25519 key there (mode 0600, written atomically: synced, renamed, and its folder synced) if the file does not
// exist, so the node keeps its peer ID across restarts.
func LoadOrCreateIdentity(path string) (crypto.PrivKey, error) {
	data, err := os.ReadFile(path)
	if err == nil {
		k, err := crypto.UnmarshalPrivateKey(data)
		if err != nil {
			return nil, fmt.Errorf("libp2p key %s: %w", path, err)
		}
		return k, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("libp2p key %s: %w", path, err)
	}
	k, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return nil, err
	}
	enc, err := crypto.MarshalPrivateKey(k)
	if err != nil {
		return nil, err
	}
	if err := atomicfile.Write(path, enc, 0o600); err != nil {
		return nil, fmt.Errorf("libp2p key %s: %w", path, err)
	}
	return k, nil
}
