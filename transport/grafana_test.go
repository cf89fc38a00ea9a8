package transport

import (
	"encoding/json"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/wealthwarriors/wealthcoach/cluster"
)

const grafanaDashboard = "../deploy/grafana/wealthcoach.json"

// plainAlternation is a regular-expression matcher that only lists
// values, as in result=~"hit|miss".
var plainAlternation = regexp.MustCompile(`^[a-z0-9_]+(\|[a-z0-9_]+)+$`)

// TestGrafanaDashboardMatchesMetrics reads every query of the shipped
// Grafana dashboard and checks that each wealthcoach_* series it names is
// one a running admin server's /metrics exposes, with the labels its
// selectors match on, so that renaming a metric breaks this test rather
// than an operator's dashboard.
func TestGrafanaDashboardMatchesMetrics(t *testing.T) {
	raw, err := os.ReadFile(grafanaDashboard)
	if err != nil {
		t.Fatal(err)
	}
	var dash any
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("%s is not JSON: %v", grafanaDashboard, err)
	}
	var queries []string
	collectQueries(dash, &queries)

	f := newAdminFixture(t, func(o *AdminOptions) {
		o.Fleet = fixedFleet{cluster.View{Enabled: true, NodeID: "node-a"}}
	})
	_, body := f.get(t, "GET", "/metrics", "")
	parser := expfmt.NewTextParser(model.LegacyValidation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("/metrics is not Prometheus text: %v", err)
	}

	used := map[string]bool{}
	selector := regexp.MustCompile(`\b(wealthcoach_[a-z0-9_]+)(\{[^}]*\})?`)
	matcher := regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"([^"]*)"`)
	for _, q := range queries {
		for _, m := range selector.FindAllStringSubmatch(q, -1) {
			name := m[1]
			used[name] = true
			fam := exposedFamily(families, name)
			if fam == nil {
				t.Errorf("the dashboard queries %s, which /metrics does not expose (query %q)", name, q)
				continue
			}
			for _, lm := range matcher.FindAllStringSubmatch(m[2], -1) {
				if lm[1] == "instance" || lm[1] == "job" { // added by Prometheus on scrape
					continue
				}
				values := []string{lm[3]}
				if lm[2] == "=~" && plainAlternation.MatchString(lm[3]) {
					values = strings.Split(lm[3], "|") // each must exist, not just one
				}
				for _, v := range values {
					if !hasLabelValue(fam, lm[1], lm[2], v) {
						t.Errorf("%s has no series with %s%s%q (query %q)", name, lm[1], lm[2], v, q)
					}
				}
			}
		}
	}
	// The dashboard must cover what the brief promises; without this an
	// empty dashboard would pass.
	for _, name := range []string{"wealthcoach_sessions", "wealthcoach_answers_total",
		"wealthcoach_llm_time_to_first_token_seconds_bucket", "wealthcoach_cache_requests_total",
		"wealthcoach_rejections_total", "wealthcoach_llm_errors_total", "wealthcoach_cluster_nodes",
		"wealthcoach_cluster_sessions", "wealthcoach_cluster_degraded"} {
		if !used[name] {
			t.Errorf("the dashboard does not chart %s", name)
		}
	}
	if t.Failed() {
		names := make([]string, 0, len(used))
		for n := range used {
			names = append(names, n)
		}
		sort.Strings(names)
		t.Logf("series the dashboard names: %s", strings.Join(names, " "))
	}
}

// collectQueries appends every PromQL string of a Grafana dashboard: the
// panels' target expressions and the template variables' queries.
func collectQueries(v any, out *[]string) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if s, ok := x.(string); ok && (k == "expr" || k == "query" || k == "definition") {
				*out = append(*out, s)
				continue
			}
			collectQueries(x, out)
		}
	case []any:
		for _, x := range v {
			collectQueries(x, out)
		}
	}
}

// exposedFamily is the family a series name belongs to: the name itself,
// or a histogram's with its _bucket, _sum or _count suffix.
func exposedFamily(families map[string]*dto.MetricFamily, name string) *dto.MetricFamily {
	if fam := families[name]; fam != nil {
		return fam
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		base, ok := strings.CutSuffix(name, suffix)
		if fam := families[base]; ok && fam != nil && fam.GetType() == dto.MetricType_HISTOGRAM {
			return fam
		}
	}
	return nil
}

// hasLabelValue reports whether some series of fam has label matching op
// and value: for = and =~ a series with that value, for != and !~ the
// label at all.
func hasLabelValue(fam *dto.MetricFamily, label, op, value string) bool {
	re := regexp.MustCompile("^(?:" + value + ")$")
	for _, m := range fam.GetMetric() {
		for _, lp := range m.GetLabel() {
			if lp.GetName() != label {
				continue
			}
			switch op {
			case "=":
				if lp.GetValue() == value {
					return true
				}
			case "=~":
				if re.MatchString(lp.GetValue()) {
					return true
				}
			default:
				return true
			}
		}
	}
	return false
}
