package node

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/internal/testutil"
	"github.com/quorumgate/quorumgate/quorum"
)

// scrape reads a running node's /metrics.
func scrape(t *testing.T, api string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + api + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	require.NoError(t, err)
	return fams
}

// sample is the value of the family's series whose labels include want.
func sample(fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	f, ok := fams[name]
	if !ok {
		return 0, false
	}
next:
	for _, m := range f.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if labels[k] != v {
				continue next
			}
		}
		switch {
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		}
	}
	return 0, false
}

var metricName = regexp.MustCompile(`\bquorumgate_[a-z0-9_]+`)

// TestDashboardAndAlertMetricsExist: every metric the Grafana dashboard and
// the alert rules use is on a running node's /metrics (a renamed metric
// would leave a panel empty and an alert silent), and the operator metrics
// carry the values the rules rely on. Prometheus's own `up` is the one
// series they use that no node exports.
func TestDashboardAndAlertMetricsExist(t *testing.T) {
	s := startSoloNode(t, "protocol=2.0.0") // not cadence 2.0.0
	epoch, view := s.headEpochView()
	s.propose(t, activation.Proposal{Name: "protocol-2", Component: "protocol", Version: "2.0.0", Mode: activation.Stake,
		Roles: []string{"consensus", "execution"}, Threshold: quorum.TwoThirds, StartEpoch: epoch, TimeoutEpoch: epoch + 1000})
	s.propose(t, activation.Proposal{Name: "cadence-2", Component: "cadence", Version: "2.0.0", Mode: activation.Governance,
		ActivationView: view + 5000})
	testutil.Eventually(t, 10*time.Second, "both deployments are in the state", func() bool {
		a, okA := s.Head().Deployment("protocol-2")
		b, okB := s.Head().Deployment("cadence-2")
		return okA && okB && a.Status == activation.Started && b.Status == activation.LockedIn
	})
	fams := scrape(t, s.api)

	used := map[string][]string{}
	for _, file := range []string{"../deploy/grafana/quorumgate.json", "../deploy/prometheus/alerts.yml"} {
		data, err := os.ReadFile(file)
		require.NoError(t, err)
		for _, name := range metricName.FindAllString(string(data), -1) {
			if !slices.Contains(used[name], file) {
				used[name] = append(used[name], file)
			}
		}
	}
	require.Greater(t, len(used), 15, "the dashboard and rules use the node's metrics")
	for name, files := range used {
		_, exported := fams[name]
		assert.True(t, exported, "%s uses %s, which the node does not export", files, name)
	}

	v, ok := sample(fams, "quorumgate_upgrade_needed_seconds", map[string]string{"deployment": "cadence-2", "version": "2.0.0"})
	assert.True(t, ok, "cadence-2 is LOCKED_IN and not supported: the upgrade alert's series exists")
	assert.Greater(t, v, 200.0, "about 5000 views of 50ms left")
	_, ok = sample(fams, "quorumgate_upgrade_needed_seconds", map[string]string{"deployment": "protocol-2"})
	assert.False(t, ok, "protocol-2 is supported: no upgrade needed")
	v, ok = sample(fams, "quorumgate_deployment_threshold", map[string]string{"deployment": "protocol-2"})
	assert.True(t, ok)
	assert.InDelta(t, 2.0/3, v, 1e-9)
	v, ok = sample(fams, "quorumgate_deployment_supported", map[string]string{"deployment": "cadence-2"})
	assert.True(t, ok, "the series exists, at 0")
	assert.Equal(t, 0.0, v)
	v, ok = sample(fams, "quorumgate_ready_stake_ratio", map[string]string{"deployment": "protocol-2", "role": "execution", "source": "finalized"})
	assert.True(t, ok, "the series exists, at 0")
	assert.Equal(t, 0.0, v)
	v, ok = sample(fams, "quorumgate_views_to_cutoff", map[string]string{"deployment": "protocol-2"})
	assert.True(t, ok)
	assert.LessOrEqual(t, v, 18.0, "at most an epoch (20 views) less the safety views (2)")
	v, ok = sample(fams, "quorumgate_param_value", map[string]string{"param": "timeout"})
	assert.True(t, ok, "the uint parameter's value")
	assert.Equal(t, 1000.0, v)
	_, ok = sample(fams, "quorumgate_param_value", map[string]string{"param": "fast"})
	assert.False(t, ok, "a bool parameter is no number")
	v, ok = sample(fams, "quorumgate_synced", nil)
	assert.True(t, ok)
	assert.Equal(t, 1.0, v)
	v, ok = sample(fams, "quorumgate_hook_runs_total", map[string]string{"result": "failed"})
	assert.True(t, ok, "the failed-hook counter exists at zero, so increase() sees its first failure")
	assert.Equal(t, 0.0, v)
	_, ok = sample(fams, "quorumgate_attestations_total", map[string]string{"verdict": "reject", "reason": "bad signature"})
	assert.True(t, ok, "rejection counters exist at zero")
}

// TestGrafanaDashboardShape checks the dashboard file imports: valid JSON,
// unique panel IDs, panels inside the 24-column grid, every panel querying
// the Prometheus data source the import asks for.
func TestGrafanaDashboardShape(t *testing.T) {
	data, err := os.ReadFile("../deploy/grafana/quorumgate.json")
	require.NoError(t, err)
	var dash struct {
		UID    string `json:"uid"`
		Inputs []struct {
			Name string `json:"name"`
		} `json:"__inputs"`
		Panels []struct {
			ID         int    `json:"id"`
			Type       string `json:"type"`
			Title      string `json:"title"`
			Datasource struct {
				UID string `json:"uid"`
			} `json:"datasource"`
			GridPos struct{ X, Y, W, H int } `json:"gridPos"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	require.NoError(t, json.Unmarshal(data, &dash))
	assert.Equal(t, "quorumgate", dash.UID)
	require.Len(t, dash.Inputs, 1)
	assert.Equal(t, "DS_PROMETHEUS", dash.Inputs[0].Name)
	ids := map[int]bool{}
	for _, p := range dash.Panels {
		assert.False(t, ids[p.ID], "panel id %d twice", p.ID)
		ids[p.ID] = true
		assert.LessOrEqual(t, p.GridPos.X+p.GridPos.W, 24, p.Title)
		if p.Type == "row" {
			continue
		}
		assert.Equal(t, "${DS_PROMETHEUS}", p.Datasource.UID, p.Title)
		require.NotEmpty(t, p.Targets, p.Title)
		for _, tg := range p.Targets {
			assert.Regexp(t, metricName, tg.Expr, p.Title)
		}
	}
}

// TestGrafanaQueriesParse hands every query of the Grafana dashboard to
// promtool, as recording rules with Grafana's variables filled in, so a
// PromQL mistake in a panel fails here rather than as an empty panel.
func TestGrafanaQueriesParse(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	require.NoError(t, err, "promtool not found: apt-get install prometheus (.ci/run does)")
	data, err := os.ReadFile("../deploy/grafana/quorumgate.json")
	require.NoError(t, err)
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	require.NoError(t, json.Unmarshal(data, &dash))
	vars := strings.NewReplacer("$__rate_interval", "5m", "$instance", ".*")
	var rules strings.Builder
	rules.WriteString("groups:\n  - name: grafana\n    rules:\n")
	n := 0
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			n++
			expr, err := json.Marshal(vars.Replace(tg.Expr)) // a JSON string is a YAML string
			require.NoError(t, err)
			fmt.Fprintf(&rules, "      - record: grafana:query_%d\n        expr: %s\n", n, expr)
		}
	}
	require.Greater(t, n, 15)
	path := filepath.Join(t.TempDir(), "grafana-queries.yml")
	require.NoError(t, os.WriteFile(path, []byte(rules.String()), 0o644))
	out, err := exec.Command(promtool, "check", "rules", path).CombinedOutput()
	assert.NoError(t, err, "promtool on the dashboard's queries:\n%s\n%s", out, rules.String())
}
