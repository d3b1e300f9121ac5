package spec

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/internal/cost"
)

// Limits checked by Validate.
const (
	MinVolumeGB = 8     // smallest head or compute volume, in GB
	MaxVolumeGB = 16384 // largest head or compute volume, in GB
	MaxNodes    = 1000  // largest compute.max_nodes
	// MaxSpotPrice is the highest spot price accepted, per hour.
	MaxSpotPrice cost.Micros = 100 * cost.MicrosPerDollar
	// MaxRegionLength is the longest region name.
	MaxRegionLength = 63

	// MaxIdleTimeout is the longest compute.idle_timeout (the shortest is 0).
	MaxIdleTimeout = 24 * time.Hour
	// MaxBatchWindow is the longest compute.batch_window (the shortest is 0).
	MaxBatchWindow = 10 * time.Minute
	// MinDefaultTimeLimit and MaxDefaultTimeLimit bound
	// compute.default_time_limit.
	MinDefaultTimeLimit = time.Second
	MaxDefaultTimeLimit = 30 * 24 * time.Hour
	// MaxRequeues is the largest compute.max_requeues (the smallest is 0).
	MaxRequeues = 100
)

// The defaults of the scheduling fields, as DefaultTemplate has them.
const (
	DefaultScaleDown        = scaleDownStratus
	DefaultIdleTimeout      = 10 * time.Minute
	DefaultBatchWindow      = 10 * time.Second
	DefaultDefaultTimeLimit = time.Hour
	DefaultMaxRequeues      = 3
)

// durationExample is the example of each duration field's messages.
var durationExample = map[string]string{
	pathIdleTimeout: "10m",
	pathBatchWindow: "10s",
	pathTimeLimit:   "1h",
}

var regionRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// DefaultTemplate returns the built-in template that requests are merged
// onto when the administrator has not written one: the provider's default
// region, a t3.small head node with 16 GB, and up to 4 on-demand t3.small
// compute nodes with 16 GB each, none at first, autoscaling enabled with
// the stratus scale-down policy (idle timeout 10m, for the idle policy),
// a batch window of 10s, jobs limited to 1h unless they say otherwise,
// and up to 3 requeues of a job whose node was lost. Templates written by
// an administrator start from it too, so a merged spec always has every
// field set.
func DefaultTemplate() api.ClusterSpec {
	return api.ClusterSpec{
		Region: "",
		Head:   api.HeadSpec{Type: "t3.small", VolumeGB: 16},
		Compute: api.ComputeSpec{
			Types:        []string{"t3.small"},
			InitialNodes: 0,
			MinNodes:     0,
			MaxNodes:     4,
			VolumeGB:     16,
			SpotPrice:    "",
			Autoscaling:  autoscalingOn,

			ScaleDown:        DefaultScaleDown,
			IdleTimeout:      DefaultIdleTimeout.String(),
			BatchWindow:      DefaultBatchWindow.String(),
			DefaultTimeLimit: DefaultDefaultTimeLimit.String(),
			MaxRequeues:      DefaultMaxRequeues,
		},
	}
}

// Merge returns tmpl with the fields r sets replaced by r's values.
// Three more things follow from the request:
//   - ClusterType "ondemand" drops the template's spot price;
//   - a cf-create ComputeInitialNodes sets min_nodes too (the fleet
//     never shrinks below it), unless the request also sets
//     ComputeMinNodes or ComputeInitialNodes is above max_nodes (an
//     error);
//   - initial_nodes below min_nodes is raised to min_nodes, unless the
//     request sets both (then it is an error): a request for "at least 2
//     nodes" starts 2;
//   - when r sets max_nodes below the template's initial_nodes and does
//     not set initial_nodes, initial_nodes is lowered to max_nodes.
//
// An initial_nodes above max_nodes that the request sets is an error.

// Merge does not validate; tmpl is not modified.
func Merge(tmpl api.ClusterSpec, r Request) api.ClusterSpec {
	s := tmpl
	s.Compute.Types = slices.Clone(tmpl.Compute.Types)
	setTo(&s.Region, r.Region)
	setTo(&s.Head.Type, r.HeadType)
	setTo(&s.Head.VolumeGB, r.HeadVolumeGB)
	if r.ComputeTypes != nil {
		s.Compute.Types = slices.Clone(*r.ComputeTypes)
	}
	c := &s.Compute
	setTo(&c.InitialNodes, r.ComputeInitialNodes)
	setTo(&c.MinNodes, r.ComputeMinNodes)
	setTo(&c.MaxNodes, r.ComputeMaxNodes)
	setTo(&c.VolumeGB, r.ComputeVolumeGB)
	setTo(&c.SpotPrice, r.ComputeSpotPrice)
	setTo(&c.Autoscaling, r.ComputeAutoscaling)
	setTo(&c.ScaleDown, r.ComputeScaleDown)
	setTo(&c.IdleTimeout, r.ComputeIdleTimeout)
	setTo(&c.BatchWindow, r.ComputeBatchWindow)
	setTo(&c.DefaultTimeLimit, r.ComputeDefaultTimeLimit)
	setTo(&c.MaxRequeues, r.ComputeMaxRequeues)
	if r.ClusterType == clusterOnDemand {
		c.SpotPrice = ""
	}
	setsInitial, setsMin := r.ComputeInitialNodes != nil, r.ComputeMinNodes != nil
	if r.Format == FormatCFCreate && setsInitial && !setsMin && c.InitialNodes >= 0 && c.InitialNodes <= c.MaxNodes {
		// A cf-create cluster's minimum is its ComputeInitialNodes.
		c.MinNodes = c.InitialNodes
	}
	// Initial nodes follow the minimum and maximum unless both are given; a
	// negative count is left as it is, for Validate to refuse.
	switch {
	case c.InitialNodes < c.MinNodes && c.InitialNodes >= 0 && !(setsInitial && setsMin):
		c.InitialNodes = c.MinNodes
	case c.InitialNodes > c.MaxNodes && !setsInitial && r.ComputeMaxNodes != nil && c.MaxNodes >= c.MinNodes:
		c.InitialNodes = c.MaxNodes
	}
	return s
}

func setTo[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

// ParseTemplate reads an administrator's template in the native format
// (YAML or JSON). Fields it leaves out take DefaultTemplate's values. The
// result is validated against the built-in catalog; problems are an
// Errors naming native paths with their lines.
func ParseTemplate(data []byte, filename string) (api.ClusterSpec, error) {
	req, errs, fatal := parse(data, filename, emptyTemplateMessage)
	if fatal {
		return api.ClusterSpec{}, errs
	}
	if req.Format == FormatCFCreate {
		return api.ClusterSpec{}, Errors{{Message: "a template must be in the native format (region, head, compute), not cf-create keys"}}
	}
	s := Merge(DefaultTemplate(), req)
	errs = append(errs, check(s, defaultCatalog(), &req)...)
	if len(errs) > 0 {
		return api.ClusterSpec{}, errs.finish()
	}
	return canonical(s), nil
}

// Build parses a request (Parse), merges it onto tmpl (Merge) and
// validates the result against cat (nil means cost.DefaultCatalog()). The
// spot price of the result is in canonical form (0.05, 1.00). On
// any problem it returns an Errors listing all of them, ordered by line,
// with fields named as the user wrote them: cf-create keys for a cf-create
// request (also for fields it left to the template), native paths
// otherwise.
func Build(data []byte, filename string, tmpl api.ClusterSpec, cat *cost.Catalog) (api.ClusterSpec, error) {
	req, errs, fatal := parse(data, filename, emptyMessage)
	if fatal {
		return api.ClusterSpec{}, errs
	}
	if cat == nil {
		cat = defaultCatalog()
	}
	s := Merge(tmpl, req)
	errs = append(errs, check(s, cat, &req)...)
	if len(errs) > 0 {
		return api.ClusterSpec{}, errs.finish()
	}
	return canonical(s), nil
}

// canonical writes a valid spec's spot price the one way cost.Micros
// prints it: ".05" and "0.050" become "0.05", "1" becomes "1.00"; and its
// durations the way time.Duration prints them: "10m" becomes "10m0s".
func canonical(s api.ClusterSpec) api.ClusterSpec {
	if m, err := cost.ParseDollars(s.Compute.SpotPrice); err == nil {
		s.Compute.SpotPrice = m.String()
	}
	for _, d := range []*string{&s.Compute.IdleTimeout, &s.Compute.BatchWindow, &s.Compute.DefaultTimeLimit} {
		if v, err := time.ParseDuration(*d); err == nil {
			*d = v.String()
		}
	}
	return s
}

// Validate checks a complete spec against the rules in the package
// documentation and the instance types of cat (nil means
// cost.DefaultCatalog()). The error, if any, is an Errors naming native
// paths (compute.max_nodes) and listing every problem.
func Validate(s api.ClusterSpec, cat *cost.Catalog) error {
	if cat == nil {
		cat = defaultCatalog()
	}
	return check(s, cat, nil).err()
}

var defaultCatalog = sync.OnceValue(cost.DefaultCatalog)

// checker applies the validation rules. With a request it names fields
// as the request did, gives their lines, and skips rules on fields whose
// value could not be read (already reported).
type checker struct {
	cat    *cost.Catalog
	req    *Request
	errs   Errors
	failed map[string]bool // paths with a problem: relations involving them are skipped
}

func check(s api.ClusterSpec, cat *cost.Catalog, req *Request) Errors {
	c := &checker{cat: cat, req: req, failed: map[string]bool{}}
	if s.Region != "" && !c.skip(pathRegion) {
		if len(s.Region) > MaxRegionLength || !regionRE.MatchString(s.Region) {
			c.fail(pathRegion, "must be a region name of lower-case letters, digits and dashes, like us-east-1, got %s", quote(s.Region))
		}
	}
	c.instanceType(pathHeadType, s.Head.Type)
	c.volume(pathHeadVolume, s.Head.VolumeGB)

	cs := s.Compute
	if !c.skip(pathTypes) {
		if len(cs.Types) == 0 {
			c.fail(pathTypes, "must list at least one instance type, like [t3.small]")
		}
		for i, t := range cs.Types {
			path := fmt.Sprintf("%s[%d]", pathTypes, i)
			if j := slices.Index(cs.Types, t); j < i {
				c.fail(path, "lists %s twice; each fallback type once is enough", quote(t))
				continue
			}
			c.instanceType(path, t)
		}
	}
	for _, n := range []struct {
		path  string
		value int
	}{{pathInitial, cs.InitialNodes}, {pathMin, cs.MinNodes}, {pathMax, cs.MaxNodes}} {
		if !c.skip(n.path) && n.value < 0 {
			c.fail(n.path, "must not be negative, got %d", n.value)
		}
	}
	if !c.skip(pathMax) && cs.MaxNodes > MaxNodes {
		c.fail(pathMax, "must be at most %d, got %d", MaxNodes, cs.MaxNodes)
	}
	c.volume(pathVolume, cs.VolumeGB)
	if cs.SpotPrice != "" && !c.skip(pathSpotPrice) {
		switch m, err := cost.ParseDollars(cs.SpotPrice); {
		case err != nil:
			c.fail(pathSpotPrice, "must be an hourly price in dollars, like 0.03: %v", err)
		case m == 0:
			c.fail(pathSpotPrice, "must be more than 0, got %s; to use on-demand instances leave it out", quote(cs.SpotPrice))
		case m > MaxSpotPrice:
			c.fail(pathSpotPrice, "must be at most %s dollars per hour, got %s", cost.Micros(MaxSpotPrice), quote(cs.SpotPrice))
		}
	}
	if !c.skip(pathAutoscaling) && cs.Autoscaling != autoscalingOn && cs.Autoscaling != autoscalingOff {
		c.fail(pathAutoscaling, "must be %q or %q, got %s", autoscalingOn, autoscalingOff, quote(cs.Autoscaling))
	}
	if !c.skip(pathScaleDown) && !slices.Contains(scaleDownPolicies, cs.ScaleDown) {
		c.fail(pathScaleDown, "must be %s, got %s", wantScaleDown, quote(cs.ScaleDown))
	}
	c.duration(pathIdleTimeout, cs.IdleTimeout, 0, MaxIdleTimeout)
	c.duration(pathBatchWindow, cs.BatchWindow, 0, MaxBatchWindow)
	c.duration(pathTimeLimit, cs.DefaultTimeLimit, MinDefaultTimeLimit, MaxDefaultTimeLimit)
	if !c.skip(pathRequeues) && (cs.MaxRequeues < 0 || cs.MaxRequeues > MaxRequeues) {
		c.fail(pathRequeues, "must be between 0 and %d, got %d", MaxRequeues, cs.MaxRequeues)
	}

	// Relations, each reported once, on the field the request set.
	if c.order(pathMin, cs.MinNodes, pathMax, cs.MaxNodes) {
		c.order(pathInitial, cs.InitialNodes, pathMax, cs.MaxNodes)
		c.order(pathMin, cs.MinNodes, pathInitial, cs.InitialNodes)
	}
	if req != nil && req.ClusterType == clusterSpot && cs.SpotPrice == "" && !c.skip(pathSpotPrice) {
		src := req.Sources[pathClusterType]
		c.errs = append(c.errs, FieldError{Field: src.Key, Line: src.Line,
			Message: fmt.Sprintf("is %q but no ComputeSpotPrice is set; set ComputeSpotPrice to the most to pay per node and hour in dollars, like 0.03", clusterSpot)})
	}
	return c.errs
}

// skip reports whether the request gave path a value that could not be
// read; the problem is already reported.
func (c *checker) skip(path string) bool {
	return c.req != nil && c.req.invalid[path]
}

// source returns where the request set path.
func (c *checker) source(path string) (Source, bool) {
	if c.req == nil {
		return Source{}, false
	}
	if s, ok := c.req.Sources[path]; ok {
		return s, true
	}
	if base, _, found := strings.Cut(path, "["); found && c.req.Format == FormatCFCreate {
		s, ok := c.req.Sources[base]
		return s, ok
	}
	return Source{}, false
}

// name is how errors call path: the key the request used for it, or for a
// cf-create request the cf-create key for it, or else the path itself.
func (c *checker) name(path string) string {
	if s, ok := c.source(path); ok {
		return s.Key
	}
	if c.req != nil && c.req.Format == FormatCFCreate {
		base, _, _ := strings.Cut(path, "[")
		if k := cfCreateName[base]; k != "" {
			return k
		}
	}
	return path
}

func (c *checker) fail(path, format string, args ...any) {
	base, _, _ := strings.Cut(path, "[")
	c.failed[base] = true
	s, _ := c.source(path)
	c.errs = append(c.errs, FieldError{Field: c.name(path), Line: s.Line, Message: fmt.Sprintf(format, args...)})
}

func (c *checker) instanceType(path, name string) {
	if c.skip(path) {
		return
	}
	if name == "" {
		c.fail(path, "must name an instance type, like t3.small")
		return
	}
	if _, ok := c.cat.Lookup(name); ok {
		return
	}
	msg := "unknown instance type " + quote(name)
	suggestions := nearest(name, c.cat.Names())
	if len(suggestions) == 0 {
		suggestions = c.cat.Suggest(name)
	}
	if len(suggestions) > 0 {
		msg += "; did you mean " + strings.Join(suggestions, ", ") + "?"
	} else {
		msg += "; it is not in the instance type catalog"
	}
	c.fail(path, "%s", msg)
}

func (c *checker) volume(path string, gb int) {
	if !c.skip(path) && (gb < MinVolumeGB || gb > MaxVolumeGB) {
		c.fail(path, "must be between %d and %d (GB), got %d", MinVolumeGB, MaxVolumeGB, gb)
	}
}

// duration checks a duration field: a Go duration (10m, 1h30m) from least
// to most.
func (c *checker) duration(path, value string, least, most time.Duration) {
	if c.skip(path) {
		return
	}
	d, err := time.ParseDuration(value)
	switch {
	case err != nil:
		c.fail(path, "must be a duration like %s, got %s", durationExample[path], quote(value))
	case d < least || d > most:
		c.fail(path, "must be between %s and %s, got %s", ShortDuration(least), ShortDuration(most), quote(value))
	}
}

// ShortDuration writes d as time.Duration does, without zero minutes and
// seconds at the end: 24h, 10m, 1h30m, 0s.
func ShortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// order checks av <= bv. It blames a when only a was set by the request,
// and b otherwise. It returns false when the rule failed or could not be
// checked, so that rules depending on it are skipped.
func (c *checker) order(a string, av int, b string, bv int) bool {
	if c.skip(a) || c.skip(b) || c.failed[a] || c.failed[b] {
		return false
	}
	if av <= bv {
		return true
	}
	_, aSet := c.source(a)
	_, bSet := c.source(b)
	if aSet && !bSet {
		c.fail(a, "must be at most %s (%d), got %d", c.name(b), bv, av)
	} else {
		c.fail(b, "must be at least %s (%d), got %d", c.name(a), av, bv)
	}
	c.failed[a], c.failed[b] = true, true
	return false
}
