package policy

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/internal/cost"
	"github.com/stratus-cloud/stratus/internal/spec"
	"github.com/stratus-cloud/stratus/internal/store"
)

// Enforcer checks cluster requests against the policy file at Path,
// reloading it when its modification time or size changes (a cheap stat on
// each check). A file that no longer parses keeps the last good policy in
// force and is logged once per change.
type Enforcer struct {
	Path    string
	Catalog *cost.Catalog
	// Store is read for the user's other clusters (max_nodes_total).
	Store store.Store
	// Spent says what user's clusters have cost since a time.
	Spent  func(ctx context.Context, user string, since time.Time) (cost.Micros, error)
	Now    func() time.Time
	Logger *slog.Logger

	mu      sync.Mutex
	policy  *Policy
	modTime time.Time
	size    int64
	// stamped is the policy whose bootstrap scripts are watched (the one
	// last read, even if its scripts were bad), scripts their scriptStamp.
	stamped *Policy
	scripts string
}

// Load reads the file for the first time; an error means the server should
// not start.
func (e *Enforcer) Load() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	fi, err := os.Stat(e.Path)
	if err != nil {
		return fmt.Errorf("policy: %w", err)
	}
	p, err := ReadFile(e.Path)
	if err != nil {
		return err
	}
	e.policy, e.modTime, e.size = p, fi.ModTime(), fi.Size()
	e.stamped, e.scripts = p, p.scriptStamp(filepath.Dir(e.Path))
	return nil
}

// ReadFile reads and parses a policy file; the error names the file.
func ReadFile(name string) (*Policy, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	p, err := Parse(data)
	if err == nil {
		err = p.LoadScripts(filepath.Dir(name))
	}
	if err != nil {
		return nil, fmt.Errorf("policy %s:\n%w", name, err)
	}
	return p, nil
}

// Current returns the policy in force, reloading the file if it changed.
func (e *Enforcer) Current() *Policy {
	e.mu.Lock()
	defer e.mu.Unlock()
	fi, err := os.Stat(e.Path)
	if err != nil {
		if !e.modTime.IsZero() {
			e.log().Warn("policy file unreadable; keeping the last good policy", "file", e.Path, "err", err)
			e.modTime, e.size = time.Time{}, -1
		}
		return e.policy
	}
	dir := filepath.Dir(e.Path)
	if fi.ModTime().Equal(e.modTime) && fi.Size() == e.size && e.stamped.scriptStamp(dir) == e.scripts {
		return e.policy
	}
	e.modTime, e.size = fi.ModTime(), fi.Size()
	p, err := ReadFile(e.Path)
	if err != nil {
		e.stamped = parsedOnly(e.Path, e.policy)
		e.scripts = e.stamped.scriptStamp(dir)
		e.log().Error("policy file not reloaded; keeping the last good policy", "file", e.Path, "err", strings.ReplaceAll(err.Error(), "\n", "; "))
		return e.policy
	}
	e.policy = p
	e.stamped, e.scripts = p, p.scriptStamp(dir)
	e.log().Info("policy reloaded", "file", e.Path)
	return p
}

func (e *Enforcer) log() *slog.Logger {
	if e.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return e.Logger
}

func (e *Enforcer) now() time.Time {
	if e.Now == nil {
		return time.Now()
	}
	return e.Now()
}

// Check refuses a request by user for the merged spec sp (region set) that
// the policy does not allow, with spec.Errors naming the field and rule.
func (e *Enforcer) Check(ctx context.Context, user string, sp api.ClusterSpec) error {
	p := e.Current()
	if p == nil {
		return nil
	}
	return Check(ctx, p, Input{User: user, Spec: sp, Catalog: e.Catalog, Now: e.now(), Store: e.Store, Spent: e.Spent})
}

// Input is what Check needs besides the policy.
type Input struct {
	User    string
	Spec    api.ClusterSpec
	Catalog *cost.Catalog
	Now     time.Time
	// Store, if set, is read for the user's other clusters.
	Store store.Store
	// Spent, if set, says what the user's clusters have cost since a time.
	Spent func(ctx context.Context, user string, since time.Time) (cost.Micros, error)
}

// Check applies p to a request. The budget is checked only when the rules
// that need no money pass, so that nothing is computed for a refused request.
func Check(ctx context.Context, p *Policy, in Input) error {
	if !p.Allowed(in.User) {
		return spec.Errors{{Field: "user", Message: fmt.Sprintf("%s may not create clusters by policy (users: %s)", in.User, strings.Join(p.Users, ", "))}}
	}
	l, ok := p.For(in.User)
	if !ok {
		return nil
	}
	sp := in.Spec
	var es spec.Errors
	refuse := func(field, format string, args ...any) {
		es = append(es, spec.FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	allowed := strings.Join(l.InstanceTypes, ", ")
	if !l.TypeAllowed(sp.Head.Type) {
		refuse("head.type", "%s is not allowed for %s by policy (allowed: %s)", sp.Head.Type, in.User, allowed)
	}
	for i, t := range sp.Compute.Types {
		if !l.TypeAllowed(t) {
			refuse(fmt.Sprintf("compute.types[%d]", i), "%s is not allowed for %s by policy (allowed: %s)", t, in.User, allowed)
		}
	}
	if l.MaxNodesPerCluster > 0 && sp.Compute.MaxNodes > l.MaxNodesPerCluster {
		refuse("compute.max_nodes", "%d is more than the %d compute nodes per cluster %s may have by policy (max_nodes_per_cluster)", sp.Compute.MaxNodes, l.MaxNodesPerCluster, in.User)
	}
	if l.MaxSpotPrice > 0 && sp.Compute.SpotPrice != "" {
		if m, err := cost.ParseDollars(sp.Compute.SpotPrice); err == nil && m > l.MaxSpotPrice {
			refuse("compute.spot_price", "%s dollars per hour is more than the %s %s may bid by policy (max_spot_price)", m, l.MaxSpotPrice, in.User)
		}
	}
	if len(es) == 0 && l.MaxNodesTotal > 0 && in.Store != nil {
		others, err := nodesInUse(ctx, in.Store, in.User)
		if err != nil {
			return fmt.Errorf("policy: %w", err)
		}
		if others+sp.Compute.MaxNodes > l.MaxNodesTotal {
			refuse("compute.max_nodes", "%d more compute nodes would make %d for %s, more than %d in total by policy (max_nodes_total; %d in other clusters)",
				sp.Compute.MaxNodes, others+sp.Compute.MaxNodes, in.User, l.MaxNodesTotal, others)
		}
	}
	if len(es) == 0 && l.MonthlyBudget > 0 {
		if err := checkBudget(ctx, l, in, refuse); err != nil {
			return err
		}
	}
	if len(es) > 0 {
		return es
	}
	return nil
}

// nodesInUse sums compute.max_nodes over user's clusters that are not
// being deleted: the most compute nodes they may run.
func nodesInUse(ctx context.Context, st store.Store, user string) (int, error) {
	cls, err := st.ListClusters(ctx)
	if err != nil {
		return 0, err
	}
	total := 0
	for _, cl := range cls {
		if cl.Owner != user || cl.State == store.ClusterDeleting {
			continue
		}
		var sp api.ClusterSpec
		if err := json.Unmarshal(cl.Spec, &sp); err != nil {
			continue
		}
		total += sp.Compute.MaxNodes
	}
	return total, nil
}

// MonthStart returns the start of t's calendar month in UTC.
func MonthStart(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

// Predict returns what the head and initial compute nodes of sp cost at
// their catalog prices in sp's region when run for d, and a description.
func Predict(cat *cost.Catalog, sp api.ClusterSpec, d time.Duration) (cost.Micros, string, error) {
	perSecond := cost.Billing{Name: "second", Unit: time.Second}
	head, ok := cat.Price(sp.Region, sp.Head.Type)
	if !ok {
		return 0, "", fmt.Errorf("no catalog price for %s", sp.Head.Type)
	}
	total := perSecond.Charge(head, d)
	what := "head " + sp.Head.Type
	if n := sp.Compute.InitialNodes; n > 0 && len(sp.Compute.Types) > 0 {
		typ := sp.Compute.Types[0]
		price, ok := cat.Price(sp.Region, typ)
		if !ok {
			return 0, "", fmt.Errorf("no catalog price for %s", typ)
		}
		total += cost.Micros(n) * perSecond.Charge(price, d)
		what += fmt.Sprintf(" + %d × %s", n, typ)
	}
	return total, what, nil
}

func checkBudget(ctx context.Context, l Limits, in Input, refuse func(field, format string, args ...any)) error {
	start := MonthStart(in.Now)
	d := l.MaxLifetime
	span := "for max_lifetime " + d.String()
	if d <= 0 {
		d = start.AddDate(0, 1, 0).Sub(in.Now)
		span = "until the end of the month"
	}
	if in.Catalog == nil {
		return nil
	}
	predicted, what, err := Predict(in.Catalog, in.Spec, d)
	if err != nil {
		return fmt.Errorf("policy: %w", err)
	}
	var spent cost.Micros
	if in.Spent != nil {
		if spent, err = in.Spent(ctx, in.User, start); err != nil {
			return fmt.Errorf("policy: cost so far this month: %w", err)
		}
	}
	remaining := l.MonthlyBudget - spent
	if predicted > remaining {
		refuse("budget", "predicted cost %s dollars (%s %s) is more than the %s dollars left of %s's monthly budget of %s by policy (monthly_budget; %s spent this month)",
			predicted, what, span, max(remaining, 0), in.User, l.MonthlyBudget, spent)
	}
	return nil
}
