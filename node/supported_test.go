package node

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseSupported(t *testing.T) {
	for _, tc := range []struct {
		name    string
		entries []string
		want    Supported
	}{
		{"none", nil, Supported{}},
		{"exact versions, as before", []string{"protocol=1.0.0", "protocol=2.0.0", "cadence=1.1.0"},
			Supported{"protocol": {Exact: []string{"1.0.0", "2.0.0"}}, "cadence": {Exact: []string{"1.1.0"}}}},
		{"component versions", []string{"protocol=2.0", "protocol=10.12", "cadence=0.0"},
			Supported{"protocol": {Series: []Series{{2, 0}, {10, 12}}}, "cadence": {Series: []Series{{0, 0}}}}},
		{"mixed", []string{"protocol=1.0.0", "protocol=2.0", "protocol=2.1.0-rc.1", "cadence=1.1"},
			Supported{"protocol": {Exact: []string{"1.0.0", "2.1.0-rc.1"}, Series: []Series{{2, 0}}}, "cadence": {Series: []Series{{1, 1}}}}},
		{"an entry given twice counts once", []string{"protocol=2.0.0", "protocol=2.0", "protocol=2.0.0", "protocol=2.0"},
			Supported{"protocol": {Exact: []string{"2.0.0"}, Series: []Series{{2, 0}}}}},
		{"build metadata is part of an exact version", []string{"protocol=2.0.1+build.7"},
			Supported{"protocol": {Exact: []string{"2.0.1+build.7"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseSupported(tc.entries)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestParseSupportedRejectsBadEntries(t *testing.T) {
	const forms = "the forms are component=MAJOR.MINOR (a component version: every release of it, e.g. protocol=2.0 runs 2.0.0, 2.0.1, …) " +
		"and component=MAJOR.MINOR.PATCH (exactly that version, e.g. protocol=2.0.1)"
	cases := []struct{ entry, want string }{
		{"protocol", `supported entry "protocol" is not component=version: `},
		{"=2.0", `supported entry "=2.0" is not component=version: `},
		{"protocol=2", `supported entry "protocol=2": "2" is not a version: `},
		{"protocol=99999999999999999999.0", `supported entry "protocol=99999999999999999999.0": "99999999999999999999.0" is out of range: `},
	}
	// Neither MAJOR.MINOR nor MAJOR.MINOR.PATCH, as semver spells them.
	for _, v := range []string{"", "2.x", "2.0.x", "v2.0", "v2.0.0", "2.0.0.0", "02.0", "2.00", "2.0-rc.1", " 2.0", "2.0 "} {
		cases = append(cases, struct{ entry, want string }{"protocol=" + v, fmt.Sprintf("supported entry %q: %q is not a version: ", "protocol="+v, v)})
	}
	for _, tc := range cases {
		t.Run(tc.entry, func(t *testing.T) {
			s, err := ParseSupported([]string{"protocol=1.0.0", tc.entry})
			assert.Nil(t, s)
			assert.EqualError(t, err, tc.want+forms)
		})
	}
}

func TestSupportedCovers(t *testing.T) {
	s, err := ParseSupported([]string{"protocol=2.0", "protocol=2.0.3", "protocol=3.1.0-rc.1", "cadence=1.0.0"})
	require.NoError(t, err)
	for _, tc := range []struct {
		component, version string
		entry              string // "" for none
	}{
		{"protocol", "2.0.0", "protocol=2.0"},
		{"protocol", "2.0.1", "protocol=2.0"},
		{"protocol", "2.0.9", "protocol=2.0"},
		{"protocol", "2.0.123", "protocol=2.0"},
		{"protocol", "2.0.1+build.7", "protocol=2.0"},
		{"protocol", "2.0.3", "protocol=2.0.3"}, // the exact entry, the more specific
		{"protocol", "2.1.0", ""},
		{"protocol", "1.0.0", ""},
		{"protocol", "3.0.0", ""},
		{"protocol", "1.2.0", ""},
		{"protocol", "20.0.0", ""},
		// A pre-release is no release of its component version: only an
		// exact entry covers it.
		{"protocol", "2.0.1-rc.1", ""},
		{"protocol", "2.0.0-alpha", ""},
		{"protocol", "3.1.0-rc.1", "protocol=3.1.0-rc.1"},
		{"protocol", "3.1.0", ""},
		// Exact entries match as written, as they always have.
		{"cadence", "1.0.0", "cadence=1.0.0"},
		{"cadence", "1.0.1", ""},
		{"cadence", "1.0.0+build.7", ""},
		// Another component's entries cover nothing here.
		{"execution", "2.0.1", ""},
		{"protocol", "not-semver", ""},
	} {
		entry, ok := s.CoveredBy(tc.component, tc.version)
		assert.Equal(t, tc.entry, entry, "%s %s", tc.component, tc.version)
		assert.Equal(t, tc.entry != "", ok, "%s %s", tc.component, tc.version)
		assert.Equal(t, tc.entry != "", s.Has(tc.component, tc.version), "Has %s %s", tc.component, tc.version)
	}
	assert.False(t, Supported{}.Has("protocol", "2.0.0"), "an empty setting runs nothing")
	assert.False(t, Supported(nil).Has("protocol", "2.0.0"), "a nil setting runs nothing")
}

func TestSupportedEntries(t *testing.T) {
	s, err := ParseSupported([]string{"protocol=2.0", "cadence=1.0.0", "protocol=1.0.0", "protocol=2.0"})
	require.NoError(t, err)
	assert.Equal(t, []string{"cadence=1.0.0", "protocol=1.0.0", "protocol=2.0"}, s.Entries())
	assert.Equal(t, []string{}, Supported{}.Entries(), "none is an empty list, not null, in JSON")
}
