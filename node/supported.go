package node

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/Masterminds/semver/v3"
)

// Supported is what this binary runs: per component, the versions its
// `supported` setting names. Following Flow's split between a software
// version (a release, MAJOR.MINOR.PATCH) and a component version (the
// behaviour the protocol prescribes, MAJOR.MINOR), an entry names either:
//
//   - a component version, protocol=2.0: it covers every release of 2.0
//     (2.0.0, 2.0.1, 2.0.7, …), since a patch changes no behaviour, and not
//     2.1.0, 3.0.0 or any pre-release (2.0.1-rc.1 is not a release of 2.0);
//   - an exact version, protocol=2.0.1 (as before component versions): it
//     covers that version alone, as written. A pre-release runs only where
//     an exact entry names it.
//
// The protocol state keeps exact versions: a deployment still names one,
// and only what this node runs is read through its component version.
type Supported map[string]Versions

// Versions are the versions of one component a binary runs, in the order
// the entries name them, each once.
type Versions struct {
	// Exact versions, MAJOR.MINOR.PATCH with any pre-release or build
	// metadata: each covers the one version spelt the same way.
	Exact []string
	// Series are component versions, MAJOR.MINOR: each covers every release
	// of it.
	Series []Series
}

// Series is a component version, MAJOR.MINOR.
type Series struct{ Major, Minor uint64 }

func (s Series) String() string { return fmt.Sprintf("%d.%d", s.Major, s.Minor) }

// Covers reports whether v is a release of the component version:
// MAJOR.MINOR.x, without a pre-release. Build metadata does not matter (it
// plays no part in semver precedence either).
func (s Series) Covers(v *semver.Version) bool {
	return v.Major() == s.Major && v.Minor() == s.Minor && v.Prerelease() == ""
}

// Covers returns the entry that covers version (as the entry reads after
// "component="): an exact one if there is one, the more specific, else a
// component version. ok is false if none does, or version is not a
// semantic version.
func (vs Versions) Covers(version string) (entry string, ok bool) {
	if slices.Contains(vs.Exact, version) {
		return version, true
	}
	v, err := semver.StrictNewVersion(version)
	if err != nil {
		return "", false
	}
	for _, s := range vs.Series {
		if s.Covers(v) {
			return s.String(), true
		}
	}
	return "", false
}

// supportedForms is what every bad entry's error shows.
const supportedForms = "the forms are component=MAJOR.MINOR (a component version: every release of it, e.g. protocol=2.0 runs 2.0.0, 2.0.1, …) " +
	"and component=MAJOR.MINOR.PATCH (exactly that version, e.g. protocol=2.0.1)"

// seriesForm is MAJOR.MINOR without leading zeros, as semver spells numbers.
var seriesForm = regexp.MustCompile(`^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$`)

// ParseSupported reads entries of the form component=MAJOR.MINOR (a
// component version) or component=MAJOR.MINOR.PATCH (an exact version); they
// may mix both forms, and an entry given twice counts once.
func ParseSupported(entries []string) (Supported, error) {
	s := Supported{}
	for _, e := range entries {
		c, v, ok := strings.Cut(e, "=")
		if !ok || c == "" {
			return nil, fmt.Errorf("supported entry %q is not component=version: %s", e, supportedForms)
		}
		vs := s[c]
		if _, err := semver.StrictNewVersion(v); err == nil {
			if !slices.Contains(vs.Exact, v) {
				vs.Exact = append(vs.Exact, v)
			}
		} else if seriesForm.MatchString(v) {
			sv, err := semver.StrictNewVersion(v + ".0")
			if err != nil { // a number past uint64
				return nil, fmt.Errorf("supported entry %q: %q is out of range: %s", e, v, supportedForms)
			}
			if series := (Series{Major: sv.Major(), Minor: sv.Minor()}); !slices.Contains(vs.Series, series) {
				vs.Series = append(vs.Series, series)
			}
		} else {
			return nil, fmt.Errorf("supported entry %q: %q is not a version: %s", e, v, supportedForms)
		}
		s[c] = vs
	}
	return s, nil
}

// Has reports whether the binary can run version of component: this is the
// one membership check behind attesting, warnings, halting and status.
func (s Supported) Has(component, version string) bool {
	_, ok := s[component].Covers(version)
	return ok
}

// CoveredBy returns the entry (component=…) that covers version of
// component, as Versions.Covers chooses it; ok is false if none does.
func (s Supported) CoveredBy(component, version string) (entry string, ok bool) {
	v, ok := s[component].Covers(version)
	if !ok {
		return "", false
	}
	return component + "=" + v, true
}

// Entries are the entries, component=version, sorted: what the setting
// says, without repeats.
func (s Supported) Entries() []string {
	out := []string{}
	for c, vs := range s {
		for _, v := range vs.Exact {
			out = append(out, c+"="+v)
		}
		for _, sr := range vs.Series {
			out = append(out, c+"="+sr.String())
		}
	}
	slices.Sort(out)
	return out
}
