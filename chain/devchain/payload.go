package devchain

// Payload returns the canonical activation.WireBlock inside the bytes the
// devchain stores for a block (a SignedBlock): what the commit pipeline, and
// a reader of a stopped node's store (chain/history), verify and apply.
func Payload(stored []byte) ([]byte, error) {
	sb, err := DecodeSignedBlock(stored)
	return sb.Block, err
}
