package policy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/internal/cost"
	"github.com/stratus-cloud/stratus/internal/spec"
	"github.com/stratus-cloud/stratus/internal/store"
	"github.com/stratus-cloud/stratus/internal/store/sqlite"
)

const good = `# comment
users: [ann, bob, carol]
groups:
  students: [bob, carol]
limits:
  ann:
    instance_types: ["t3.*", c5.large]
    max_nodes_per_cluster: 4
    max_nodes_total: 6
    max_spot_price: 0.05
    monthly_budget: 100
    max_lifetime: 72h
    idle_stop: 30m
  students:
    instance_types: [t3.small]
    monthly_budget: "10.50"
  "*":
    max_nodes_per_cluster: 2
`

func TestParseGood(t *testing.T) {
	p, err := Parse([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	ann, ok := p.For("ann")
	if !ok || ann.Name != "ann" || ann.Line != 6 || ann.MaxNodesPerCluster != 4 || ann.MaxNodesTotal != 6 ||
		ann.MaxSpotPrice != 50_000 || ann.MonthlyBudget != 100*cost.MicrosPerDollar ||
		ann.MaxLifetime != 72*time.Hour || ann.IdleStop != 30*time.Minute || len(ann.InstanceTypes) != 2 {
		t.Errorf("ann: %+v", ann)
	}
	if l, _ := p.For("bob"); l.Name != "students" || l.MonthlyBudget != 10_500_000 {
		t.Errorf("bob: %+v", l)
	}
	if l, _ := p.For("dave"); l.Name != "*" || l.MaxNodesPerCluster != 2 {
		t.Errorf("dave: %+v", l)
	}
	if !p.Allowed("carol") || p.Allowed("dave") {
		t.Error("Allowed")
	}
	p, err = Parse([]byte(`users: "*"`))
	if err != nil || !p.Allowed("anyone") {
		t.Fatal(err)
	}
	if _, ok := p.For("anyone"); ok {
		t.Error("no limits expected")
	}
}

func TestParseErrors(t *testing.T) {
	testParseErrors(t, []parseErrorCase{
		{"empty", ``, "", 0, "empty"},
		{"syntax", "users: [ann\nlimits: {", "", 1, "not valid YAML"},
		{"not mapping", "- a\n", "", 1, "mapping"},
		{"unknown key", "users: [a]\nuser: [b]\n", "user", 2, "unknown key"},
		{"users scalar", "users: ann\n", "users", 1, "list of user names"},
		{"bad user", "users:\n  - ann\n  - \"a b\"\n", "users[1]", 3, "user name"},
		{"dup user", "users: [ann, ann]\n", "users[1]", 1, "twice"},
		{"groups list", "groups: [a]\n", "groups", 1, "map group names"},
		{"limits list", "limits: [a]\n", "limits", 1, "must map users"},
		{"unknown limit", "limits:\n  ann:\n    max_node: 3\n", "limits.ann.max_node", 3, "unknown limit"},
		{"types empty", "limits:\n  ann:\n    instance_types: []\n", "limits.ann.instance_types", 3, "non-empty"},
		{"bad pattern", "limits:\n  ann:\n    instance_types: [\"t3.[\"]\n", "limits.ann.instance_types[0]", 3, "bad pattern"},
		{"nodes word", "limits:\n  ann:\n    max_nodes_per_cluster: four\n", "limits.ann.max_nodes_per_cluster", 3, "whole number"},
		{"nodes zero", "limits:\n  ann:\n    max_nodes_total: 0\n", "limits.ann.max_nodes_total", 3, "between 1"},
		{"per above total", "limits:\n  ann:\n    max_nodes_per_cluster: 5\n    max_nodes_total: 3\n", "limits.ann.max_nodes_per_cluster", 2, "more than max_nodes_total"},
		{"spot words", "limits:\n  ann:\n    max_spot_price: cheap\n", "limits.ann.max_spot_price", 3, "dollars"},
		{"spot zero", "limits:\n  ann:\n    max_spot_price: 0\n", "limits.ann.max_spot_price", 3, "more than 0"},
		{"budget negative", "limits:\n  ann:\n    monthly_budget: -5\n", "limits.ann.monthly_budget", 3, "dollars"},
		{"lifetime", "limits:\n  ann:\n    max_lifetime: 3 days\n", "limits.ann.max_lifetime", 3, "duration"},
		{"idle short", "limits:\n  ann:\n    idle_stop: 1s\n", "limits.ann.idle_stop", 3, "between 1m"},
		{"dup limit", "limits:\n  ann: {}\n  ann: {}\n", "limits.ann", 3, "twice"},
		{"two docs", "users: [a]\n---\nusers: [b]\n", "", 2, "more than one"},
	})
}

// parseErrorCase is a policy file that Parse refuses: its first error
// names field and line, with a message containing msg.
type parseErrorCase struct {
	name, doc, field string
	line             int
	msg              string
}

func testParseErrors(t *testing.T, cases []parseErrorCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.doc))
			var es spec.Errors
			if !errors.As(err, &es) || len(es) == 0 {
				t.Fatalf("got %v, want spec.Errors", err)
			}
			e := es[0]
			if e.Field != tc.field || e.Line != tc.line || !strings.Contains(e.Message, tc.msg) {
				t.Errorf("got %q (field %q line %d), want field %q line %d containing %q", e.Error(), e.Field, e.Line, tc.field, tc.line, tc.msg)
			}
		})
	}
}

func base() api.ClusterSpec {
	sp := spec.DefaultTemplate()
	sp.Region = "local-1"
	return sp
}

func TestCheckRules(t *testing.T) {
	p, err := Parse([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	cat := cost.DefaultCatalog()
	now := time.Date(2026, 11, 16, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		user   string
		change func(*api.ClusterSpec)
		spent  cost.Micros
		field  string
		msg    string
	}{
		{"allowed", "ann", func(*api.ClusterSpec) {}, 0, "", ""},
		{"not a user", "dave", func(*api.ClusterSpec) {}, 0, "user", "dave may not create clusters by policy"},
		{"head type", "ann", func(s *api.ClusterSpec) { s.Head.Type = "m5.2xlarge" }, 0, "head.type",
			"m5.2xlarge is not allowed for ann by policy (allowed: t3.*, c5.large)"},
		{"compute type", "ann", func(s *api.ClusterSpec) { s.Compute.Types = []string{"t3.small", "m5.large"} }, 0, "compute.types[1]", "m5.large is not allowed"},
		{"exact type ok", "ann", func(s *api.ClusterSpec) { s.Compute.Types = []string{"c5.large"} }, 0, "", ""},
		{"group type", "bob", func(s *api.ClusterSpec) { s.Head.Type = "t3.medium" }, 0, "head.type", "allowed: t3.small"},
		{"per cluster", "ann", func(s *api.ClusterSpec) { s.Compute.MaxNodes = 5 }, 0, "compute.max_nodes", "max_nodes_per_cluster"},
		{"spot", "ann", func(s *api.ClusterSpec) { s.Compute.SpotPrice = "0.06" }, 0, "compute.spot_price", "max_spot_price"},
		{"spot ok", "ann", func(s *api.ClusterSpec) { s.Compute.SpotPrice = "0.05" }, 0, "", ""},
		// 72h of t3.small head + 4 × c5.large = 72 × (0.0208 + 4 × 0.085) = 25.9776
		{"budget ok", "ann", func(s *api.ClusterSpec) { s.Compute.Types = []string{"c5.large"}; s.Compute.InitialNodes = 4 }, 74_000_000, "", ""},
		{"budget", "ann", func(s *api.ClusterSpec) { s.Compute.Types = []string{"c5.large"}; s.Compute.InitialNodes = 4 }, 75_000_000, "budget",
			"predicted cost 25.9776 dollars (head t3.small + 4 × c5.large for max_lifetime 72h0m0s) is more than the 25.00 dollars left"},
		// no lifetime: 15 days left in November: 360h × 0.0208 = 7.488
		{"budget month", "bob", func(*api.ClusterSpec) {}, 3_012_001, "budget", "predicted cost 7.488 dollars (head t3.small until the end of the month)"},
		{"budget month ok", "bob", func(*api.ClusterSpec) {}, 3_012_000, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sp := base()
			tc.change(&sp)
			var since time.Time
			err := Check(context.Background(), p, Input{User: tc.user, Spec: sp, Catalog: cat, Now: now,
				Spent: func(_ context.Context, user string, s time.Time) (cost.Micros, error) {
					since = s
					return tc.spent, nil
				}})
			if tc.field == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var es spec.Errors
			if !errors.As(err, &es) {
				t.Fatalf("got %v, want spec.Errors", err)
			}
			if es[0].Field != tc.field || !strings.Contains(es[0].Message, tc.msg) {
				t.Errorf("got %s: %s, want %s: ...%s...", es[0].Field, es[0].Message, tc.field, tc.msg)
			}
			if tc.field == "budget" && !since.Equal(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)) {
				t.Errorf("spent since %v", since)
			}
		})
	}
}

func TestReload(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "policy.yaml")
	write := func(s string, age time.Duration) {
		t.Helper()
		if err := os.WriteFile(file, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		// distinct modification times even on coarse file systems
		mt := time.Now().Add(age)
		if err := os.Chtimes(file, mt, mt); err != nil {
			t.Fatal(err)
		}
	}
	write("users: [ann]\n", -time.Hour)
	var logs bytes.Buffer
	e := &Enforcer{Path: file, Catalog: cost.DefaultCatalog(), Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	if err := e.Load(); err != nil {
		t.Fatal(err)
	}
	check := func(user string) error { return e.Check(context.Background(), user, base()) }
	if check("ann") != nil || check("bob") == nil {
		t.Fatal("initial policy not applied")
	}
	write("users: [ann, bob]\nlimits:\n  bob:\n    max_nodes_total: many\n", -30*time.Minute)
	if check("ann") != nil || check("bob") == nil {
		t.Fatal("broken policy replaced the good one")
	}
	if !strings.Contains(logs.String(), "keeping the last good policy") || !strings.Contains(logs.String(), "line 4: limits.bob.max_nodes_total") {
		t.Errorf("log does not say why: %s", logs.String())
	}
	write("users: [bob]\n", 0)
	if check("ann") == nil || check("bob") != nil {
		t.Fatal("fixed policy not applied")
	}
	if !strings.Contains(logs.String(), "policy reloaded") {
		t.Errorf("log: %s", logs.String())
	}
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	if check("bob") != nil {
		t.Fatal("removed file dropped the last good policy")
	}
}

func TestLoadBroken(t *testing.T) {
	file := filepath.Join(t.TempDir(), "p.yaml")
	os.WriteFile(file, []byte("users: [ann]\nlimits:\n  ann:\n    monthly_budget: lots\n"), 0o600)
	err := (&Enforcer{Path: file}).Load()
	if err == nil || !strings.Contains(err.Error(), "line 4: limits.ann.monthly_budget") {
		t.Fatalf("got %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(good))
	f.Add([]byte(`users: "*"`))
	f.Add([]byte("limits:\n  ann:\n    max_nodes_per_cluster: 5\n    max_nodes_total: 3\n"))
	f.Add([]byte("groups: {a: [b, \"*\"]}\nlimits: {a: {instance_types: [\"[\"]}}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse(data)
		if err != nil {
			var es spec.Errors
			if !errors.As(err, &es) || len(es) == 0 || len(es) > spec.MaxErrors {
				t.Fatalf("error is not spec.Errors: %v", err)
			}
			return
		}
		for _, l := range p.Limits {
			if l.MaxNodesPerCluster < 0 || l.MaxNodesTotal < 0 || l.MaxSpotPrice < 0 || l.MonthlyBudget < 0 || l.MaxLifetime < 0 || l.IdleStop < 0 {
				t.Fatalf("negative limit: %+v", l)
			}
			if l.MaxNodesTotal > 0 && l.MaxNodesPerCluster > l.MaxNodesTotal {
				t.Fatalf("per cluster above total: %+v", l)
			}
			l.TypeAllowed("t3.small")
		}
		_ = p.Allowed("ann")
		_, _ = p.For("ann")
	})
}

func TestCheckTotalNodes(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	p, err := Parse([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	other := base()
	other.Compute.MaxNodes = 4
	raw, _ := json.Marshal(other)
	now := time.Now()
	for _, cl := range []*store.Cluster{
		{Name: "a1", Owner: "ann", State: store.ClusterCreating, Spec: raw, CreatedAt: now},
		{Name: "b1", Owner: "bob", State: store.ClusterCreating, Spec: raw, CreatedAt: now},
		{Name: "a2", Owner: "ann", State: store.ClusterDeleting, Spec: raw, CreatedAt: now},
	} {
		if err := st.CreateCluster(ctx, cl); err != nil {
			t.Fatal(err)
		}
	}
	check := func(n int) error {
		sp := base()
		sp.Compute.MaxNodes = n
		return Check(ctx, p, Input{User: "ann", Spec: sp, Catalog: cost.DefaultCatalog(), Now: now, Store: st})
	}
	if err := check(2); err != nil {
		t.Fatalf("4 + 2 <= 6 refused: %v", err)
	}
	err = check(3)
	var es spec.Errors
	if !errors.As(err, &es) || es[0].Field != "compute.max_nodes" || !strings.Contains(es[0].Message, "would make 7 for ann, more than 6 in total by policy (max_nodes_total; 4 in other clusters)") {
		t.Fatalf("got %v", err)
	}
}
