// Package policy reads an administrator's policy file (stratus serve
// --policy FILE) and enforces it when clusters are created: who may create
// clusters, which instance types they may use, how many compute nodes per
// cluster and in total, the highest spot price and a monthly budget.
//
// The file is YAML:
//
//	users: [ann, bob]            # who may create clusters; "*" for everyone
//	groups:
//	  students: [ann, bob]
//	limits:                      # per user, group or "*" (everyone else)
//	  students:
//	    instance_types: ["t3.*", c5.large]
//	    max_nodes_per_cluster: 4
//	    max_nodes_total: 8
//	    max_spot_price: 0.05
//	    monthly_budget: 100
//	    max_lifetime: 72h
//	    idle_stop: 2h
//	    warn_before: 1h              # warn this long before max_lifetime ends
//	    on_limit: stop               # or delete: at max_lifetime or the budget
//
// A user's limits are their own entry if there is one, else the first group
// entry (in file order) whose group lists them, else the "*" entry, else
// none. The same entry's ssh_keys and bootstrap scripts customise the
// user's new clusters (custom.go). max_lifetime also sets how long the budget check assumes a new cluster
// runs.
//
// The limits controller (package limits) enforces the limits on running
// clusters: max_lifetime (from a cluster's creation or its last start; its
// owner is warned warn_before ahead, by default an hour or a tenth of
// max_lifetime if that is shorter), idle_stop (a running cluster without
// jobs for that long is stopped) and monthly_budget (its owner is warned at
// 80 %; at 100 % their running clusters are stopped and cannot be started
// again that month). on_limit says whether a cluster that reaches its
// lifetime or the budget is stopped (the default) or deleted.
package policy

import (
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/stratus-cloud/stratus/internal/cost"
	"github.com/stratus-cloud/stratus/internal/spec"
)

// Everyone is the user list entry and limits key that match every user.
const Everyone = "*"

// Policy is a parsed policy file.
type Policy struct {
	// Users may create clusters; Everyone ("*") allows every user. A nil
	// list (users: left out) allows every user too.
	Users  []string
	Groups map[string][]string
	// Limits in file order.
	Limits []Limits
}

// Limits are the rules for one user, group or everyone.
type Limits struct {
	// Name is the user, group or "*" the entry is for.
	Name string
	Line int
	// InstanceTypes are glob patterns (path.Match) the head and compute
	// types must match; empty allows every type.
	InstanceTypes []string
	// MaxNodesPerCluster bounds compute.max_nodes; 0 is no limit.
	MaxNodesPerCluster int
	// MaxNodesTotal bounds the sum of compute.max_nodes over the user's
	// clusters, the new one included; 0 is no limit.
	MaxNodesTotal int
	// MaxSpotPrice bounds compute.spot_price; 0 is no limit.
	MaxSpotPrice cost.Micros
	// MonthlyBudget bounds what the user's clusters cost in a calendar
	// month (UTC); 0 is no limit.
	MonthlyBudget cost.Micros
	// MaxLifetime bounds how long a cluster runs from its creation or last
	// start; IdleStop how long a running cluster may have no jobs before it
	// is stopped; 0 is no limit. Package limits enforces both.
	MaxLifetime time.Duration
	IdleStop    time.Duration
	// WarnBefore is how long before MaxLifetime ends the owner is warned
	// (0: the default, see Warning).
	WarnBefore time.Duration
	// OnLimit is what happens to a running cluster that reaches its
	// lifetime or the budget: OnLimitStop ("", the default) or OnLimitDelete.
	OnLimit string
	// SSHKeys are authorized_keys lines installed for the login user of
	// the entry's users' clusters (custom.go).
	SSHKeys []string
	// Bootstrap names scripts their nodes run once (custom.go).
	Bootstrap Bootstrap
}

// MaxFileSize is the largest policy file accepted.
const MaxFileSize = 1 << 20

// Parse reads a policy file. Problems are reported as spec.Errors naming
// the field and its line.
func Parse(data []byte) (*Policy, error) {
	root, es := spec.DecodeYAMLFile(data, "policy file", MaxFileSize, "write at least users: [\"*\"]")
	if es != nil {
		return nil, es
	}
	p := &Policy{Groups: map[string][]string{}}
	fail := func(n *yaml.Node, field, format string, args ...any) {
		if len(es) < spec.MaxErrors {
			es = append(es, spec.FieldError{Field: field, Line: n.Line, Message: fmt.Sprintf(format, args...)})
		}
	}
	if root.Kind != yaml.MappingNode {
		fail(root, "", "must be a mapping with users, groups and limits")
		return nil, es
	}
	var limitsNode *yaml.Node
	seen := map[string]bool{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if !once(seen, k, k.Value, fail) {
			continue
		}
		switch k.Value {
		case "users":
			p.Users = names(v, "users", fail)
			if p.Users == nil {
				p.Users = []string{}
			}
		case "groups":
			if v.Kind != yaml.MappingNode {
				fail(v, "groups", "must map group names to lists of users, like students: [ann, bob]")
				continue
			}
			for j := 0; j+1 < len(v.Content); j += 2 {
				gk, gv := v.Content[j], v.Content[j+1]
				field := "groups." + gk.Value
				switch {
				case !validName(gk.Value):
					fail(gk, field, "group name must be letters, digits, dots, dashes or underscores, got %q", gk.Value)
				case p.Groups[gk.Value] != nil:
					fail(gk, field, "group is defined twice")
				default:
					members := names(gv, field, fail)
					if members == nil {
						members = []string{}
					}
					p.Groups[gk.Value] = members
				}
			}
		case "limits":
			limitsNode = v
		default:
			fail(k, k.Value, "unknown key; a policy file has users, groups and limits")
		}
	}
	if limitsNode != nil {
		p.parseLimits(limitsNode, fail)
	}
	if len(es) > 0 {
		return nil, es
	}
	return p, nil
}

type failFunc func(n *yaml.Node, field, format string, args ...any)

// once reports whether mapping key k (field) is seen for the first time,
// failing field if it is given twice.
func once(seen map[string]bool, k *yaml.Node, field string, fail failFunc) bool {
	if seen[k.Value] {
		fail(k, field, "is given twice")
		return false
	}
	seen[k.Value] = true
	return true
}

func validName(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_' || r == '@') {
			return false
		}
	}
	return true
}

// names reads a list of user names, or the single string "*".
func names(v *yaml.Node, field string, fail failFunc) []string {
	if v.Kind == yaml.ScalarNode && v.Tag == "!!str" && v.Value == Everyone {
		return []string{Everyone}
	}
	if v.Kind != yaml.SequenceNode {
		fail(v, field, "must be a list of user names, like [ann, bob], or \"*\"")
		return nil
	}
	var out []string
	for i, n := range v.Content {
		f := fmt.Sprintf("%s[%d]", field, i)
		switch {
		case n.Kind != yaml.ScalarNode:
			fail(n, f, "must be a user name")
		case n.Value != Everyone && !validName(n.Value):
			fail(n, f, "must be a user name (letters, digits, dots, dashes, underscores, @) or \"*\", got %q", n.Value)
		default:
			for _, x := range out {
				if x == n.Value {
					fail(n, f, "lists %q twice", n.Value)
				}
			}
			out = append(out, n.Value)
		}
	}
	return out
}

func (p *Policy) parseLimits(v *yaml.Node, fail failFunc) {
	if v.Kind != yaml.MappingNode {
		fail(v, "limits", "must map users, groups or \"*\" to their limits")
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, lv := v.Content[i], v.Content[i+1]
		field := "limits." + k.Value
		if k.Value != Everyone && !validName(k.Value) {
			fail(k, field, "must be a user, a group or \"*\", got %q", k.Value)
			continue
		}
		if !once(seen, k, field, fail) {
			continue
		}
		if lv.Kind != yaml.MappingNode {
			fail(lv, field, "must be a mapping of limits, like {max_nodes_per_cluster: 4}")
			continue
		}
		l := Limits{Name: k.Value, Line: k.Line}
		var warnLine *yaml.Node
		got := map[string]bool{}
		for j := 0; j+1 < len(lv.Content); j += 2 {
			fk, fv := lv.Content[j], lv.Content[j+1]
			f := field + "." + fk.Value
			if !once(got, fk, f, fail) {
				continue
			}
			switch fk.Value {
			case "instance_types":
				if fv.Kind != yaml.SequenceNode || len(fv.Content) == 0 {
					fail(fv, f, "must be a non-empty list of instance types or patterns, like [\"t3.*\", c5.large]")
					continue
				}
				for n, tn := range fv.Content {
					tf := fmt.Sprintf("%s[%d]", f, n)
					if tn.Kind != yaml.ScalarNode || tn.Value == "" {
						fail(tn, tf, "must be an instance type or a pattern like \"t3.*\"")
						continue
					}
					if _, err := path.Match(tn.Value, ""); err != nil {
						fail(tn, tf, "bad pattern %q: %v", tn.Value, err)
						continue
					}
					l.InstanceTypes = append(l.InstanceTypes, tn.Value)
				}
			case "max_nodes_per_cluster", "max_nodes_total":
				n, err := positiveInt(fv)
				if err != nil {
					fail(fv, f, "%v", err)
					continue
				}
				if fk.Value == "max_nodes_total" {
					l.MaxNodesTotal = n
				} else {
					l.MaxNodesPerCluster = n
				}
			case "max_spot_price", "monthly_budget":
				m, err := dollars(fv)
				if err != nil {
					fail(fv, f, "%v", err)
					continue
				}
				if fk.Value == "max_spot_price" {
					l.MaxSpotPrice = m
				} else {
					l.MonthlyBudget = m
				}
			case "max_lifetime", "idle_stop", "warn_before":
				d, err := duration(fv)
				if err != nil {
					fail(fv, f, "%v", err)
					continue
				}
				switch fk.Value {
				case "max_lifetime":
					l.MaxLifetime = d
				case "idle_stop":
					l.IdleStop = d
				default:
					l.WarnBefore, warnLine = d, fk
				}
			case "on_limit":
				if fv.Kind != yaml.ScalarNode || (fv.Value != OnLimitStop && fv.Value != OnLimitDelete) {
					fail(fv, f, "must be stop or delete, got %q", fv.Value)
					continue
				}
				l.OnLimit = fv.Value
			case "ssh_keys":
				l.SSHKeys = parseSSHKeys(fv, f, fail)
			case "bootstrap":
				l.Bootstrap = parseBootstrap(fv, f, fail)
			default:
				fail(fk, f, "unknown limit; use instance_types, max_nodes_per_cluster, max_nodes_total, max_spot_price, monthly_budget, max_lifetime, idle_stop, warn_before, on_limit, ssh_keys or bootstrap")
			}
		}
		switch {
		case warnLine != nil && l.MaxLifetime == 0:
			fail(warnLine, field+".warn_before", "applies only with max_lifetime; give max_lifetime or leave warn_before out")
		case warnLine != nil && l.WarnBefore >= l.MaxLifetime:
			fail(warnLine, field+".warn_before", "is %s, not shorter than max_lifetime %s", l.WarnBefore, l.MaxLifetime)
		}
		if l.MaxNodesTotal > 0 && l.MaxNodesPerCluster > l.MaxNodesTotal {
			fail(k, field+".max_nodes_per_cluster", "is %d, more than max_nodes_total %d", l.MaxNodesPerCluster, l.MaxNodesTotal)
		}
		p.Limits = append(p.Limits, l)
	}
}

// MaxNodes is the largest node limit accepted.
const MaxNodes = 1_000_000

func positiveInt(v *yaml.Node) (int, error) {
	if v.Kind != yaml.ScalarNode || v.Tag != "!!int" {
		return 0, fmt.Errorf("must be a whole number of nodes, like 4, got %q", v.Value)
	}
	n, err := strconv.Atoi(v.Value)
	if err != nil || n < 1 || n > MaxNodes {
		return 0, fmt.Errorf("must be between 1 and %d, got %s", MaxNodes, v.Value)
	}
	return n, nil
}

func dollars(v *yaml.Node) (cost.Micros, error) {
	if v.Kind != yaml.ScalarNode || v.Value == "" {
		return 0, fmt.Errorf("must be an amount in dollars, like 100 or 0.05")
	}
	m, err := cost.ParseDollars(strings.TrimPrefix(v.Value, "$"))
	if err != nil {
		return 0, fmt.Errorf("must be an amount in dollars, like 100 or 0.05: %v", err)
	}
	if m <= 0 {
		return 0, fmt.Errorf("must be more than 0, got %s; leave it out for no limit", v.Value)
	}
	return m, nil
}

// MaxDuration is the longest duration accepted (10 years).
const MaxDuration = 10 * 365 * 24 * time.Hour

func duration(v *yaml.Node) (time.Duration, error) {
	if v.Kind != yaml.ScalarNode || v.Value == "" {
		return 0, fmt.Errorf("must be a duration, like 72h or 30m")
	}
	d, err := time.ParseDuration(v.Value)
	if err != nil {
		return 0, fmt.Errorf("must be a duration, like 72h or 30m, got %q", v.Value)
	}
	if d < time.Minute || d > MaxDuration {
		return 0, fmt.Errorf("must be between 1m and %s, got %s", MaxDuration, v.Value)
	}
	return d, nil
}

// Allowed reports whether user may create clusters.
func (p *Policy) Allowed(user string) bool {
	if p.Users == nil {
		return true
	}
	for _, u := range p.Users {
		if u == Everyone || u == user {
			return true
		}
	}
	return false
}

// For returns the limits that apply to user, and false if none do.
func (p *Policy) For(user string) (Limits, bool) {
	for _, l := range p.Limits {
		if l.Name == user {
			return l, true
		}
	}
	for _, l := range p.Limits {
		for _, m := range p.Groups[l.Name] {
			if m == user || m == Everyone {
				return l, true
			}
		}
	}
	for _, l := range p.Limits {
		if l.Name == Everyone {
			return l, true
		}
	}
	return Limits{}, false
}

// TypeAllowed reports whether typ matches one of l's instance type patterns.
func (l Limits) TypeAllowed(typ string) bool {
	if len(l.InstanceTypes) == 0 {
		return true
	}
	for _, pat := range l.InstanceTypes {
		if ok, _ := path.Match(pat, typ); ok {
			return true
		}
	}
	return false
}

// What happens to a running cluster that reaches its lifetime or budget.
const (
	OnLimitStop   = "stop"
	OnLimitDelete = "delete"
)

// DefaultWarnBefore is how long before max_lifetime ends its owner is
// warned when warn_before is not given (a tenth of max_lifetime if that is
// shorter).
const DefaultWarnBefore = time.Hour

// Warning returns how long before MaxLifetime ends the owner is warned.
func (l Limits) Warning() time.Duration {
	if l.WarnBefore > 0 {
		return l.WarnBefore
	}
	return min(DefaultWarnBefore, l.MaxLifetime/10)
}

// Action returns what happens at the lifetime or budget: OnLimitStop or
// OnLimitDelete.
func (l Limits) Action() string {
	if l.OnLimit == OnLimitDelete {
		return OnLimitDelete
	}
	return OnLimitStop
}
