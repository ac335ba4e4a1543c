package activation

import (
	"strings"
	"testing"
)

// Every status up to the sentinel has a name of its own that parses back
// (btcd's habit): a state added without a name fails here.
func TestStatusNames(t *testing.T) {
	seen := map[string]bool{}
	for s := None; s < numStatuses; s++ {
		name := s.String()
		if strings.HasPrefix(name, "Status(") || seen[name] {
			t.Fatalf("status %d has no name of its own: %q", s, name)
		}
		seen[name] = true
		if back, ok := ParseStatus(name); !ok || back != s {
			t.Fatalf("%q parses back as %v, %v", name, back, ok)
		}
	}
	if got := numStatuses.String(); got != "Status(7)" {
		t.Fatalf("the sentinel renders as %q", got)
	}
}
