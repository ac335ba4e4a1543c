package p2p

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"
)

func TestIdentityPersists(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p2p.key")
	a, err := LoadOrCreateIdentity(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, mode %v", err, st.Mode())
	}
	b, err := LoadOrCreateIdentity(path)
	if err != nil {
		t.Fatal(err)
	}
	ida, _ := peer.IDFromPrivateKey(a)
	idb, _ := peer.IDFromPrivateKey(b)
	if ida != idb {
		t.Fatal("the peer ID changed across loads")
	}
	os.WriteFile(path, []byte("not a key"), 0o600)
	if _, err := LoadOrCreateIdentity(path); err == nil {
		t.Fatal("a corrupt key file was accepted")
	}
}
