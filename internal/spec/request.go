package spec

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Format is the format of a request file.
type Format string

const (
	// FormatNative is the native spec: the shape of api.ClusterSpec, in
	// YAML or JSON, with snake_case keys.
	FormatNative Format = "native"
	// FormatCFCreate is the cf-create JSON request with CamelCase keys.
	FormatCFCreate Format = "cf-create"
)

// Request is a parsed request: only the fields it sets. A nil pointer
// means "not set: take the template's value".
type Request struct {
	Format Format

	Region              *string
	HeadType            *string
	HeadVolumeGB        *int
	ComputeTypes        *[]string
	ComputeInitialNodes *int
	ComputeMinNodes     *int
	ComputeMaxNodes     *int
	ComputeVolumeGB     *int
	ComputeSpotPrice    *string
	ComputeAutoscaling  *string
	ComputeScaleDown    *string
	// The durations are as written (or, from cf-create minutes, "90m");
	// Build writes them in canonical form.
	ComputeIdleTimeout      *string
	ComputeBatchWindow      *string
	ComputeDefaultTimeLimit *string
	ComputeMaxRequeues      *int

	// ClusterType is the cf-create ClusterType: "", "ondemand" (Merge
	// drops any spot price of the template) or "spot" (the merged spec
	// must have a spot price).
	ClusterType string

	// Sources says, for each native path the request set (such as
	// "compute.max_nodes" or "compute.types[1]", and "ClusterType"), the
	// key the user wrote for it and its line, so that errors found after
	// merging name the user's key.
	Sources map[string]Source

	// invalid holds the paths whose value was given but could not be
	// read; their problem is already reported, and rules that involve
	// them are skipped.
	invalid map[string]bool
}

// Source is where a request set a field.
type Source struct {
	Key  string // as the user wrote it: ComputeMaxNodes, compute.max_nodes
	Line int    // 1-based; 0 when unknown
}

// Native paths of api.ClusterSpec's fields.
const (
	pathRegion      = "region"
	pathHeadType    = "head.type"
	pathHeadVolume  = "head.volume_gb"
	pathTypes       = "compute.types"
	pathInitial     = "compute.initial_nodes"
	pathMin         = "compute.min_nodes"
	pathMax         = "compute.max_nodes"
	pathVolume      = "compute.volume_gb"
	pathSpotPrice   = "compute.spot_price"
	pathAutoscaling = "compute.autoscaling"
	pathScaleDown   = "compute.scale_down"
	pathIdleTimeout = "compute.idle_timeout"
	pathBatchWindow = "compute.batch_window"
	pathTimeLimit   = "compute.default_time_limit"
	pathRequeues    = "compute.max_requeues"
	pathClusterType = "ClusterType" // cf-create only
	keyMasterType   = "MasterInstanceType"
	keyMasterOther  = "MasterInstanceTypeOther"
	keyComputeType  = "ComputeInstanceType"
	keyComputeOther = "ComputeInstanceTypeOther"
	keyIdletime     = "ScaledownIdletime"
	keyScaleDown    = "ScaleDownPolicy"
	keyTimeLimit    = "JobDefaultTimeLimit"
	valueOther      = "other"
	clusterOnDemand = "ondemand"
	clusterSpot     = "spot"
	autoscalingOn   = "enabled"
	autoscalingOff  = "disabled"
)

// Scale-down policies (compute.scale_down).
const (
	scaleDownStratus     = "stratus"
	scaleDownImmediate   = "immediate"
	scaleDownIdle        = "idle"
	scaleDownBillingHour = "billing-hour"
)

var scaleDownPolicies = []string{scaleDownStratus, scaleDownImmediate, scaleDownIdle, scaleDownBillingHour}

// cfCreateKeys lists the cf-create keys, each with the native path it sets.
var cfCreateKeys = []struct{ key, path string }{
	{"Region", pathRegion},
	{keyMasterType, pathHeadType},
	{keyMasterOther, pathHeadType},
	{"MasterSystemVolumeSize", pathHeadVolume},
	{keyComputeType, pathTypes},
	{keyComputeOther, pathTypes},
	{"ComputeSystemVolumeSize", pathVolume},
	{"ComputeSpotPrice", pathSpotPrice},
	{"ComputeInitialNodes", pathInitial},
	{"ComputeMinNodes", pathMin},
	{"ComputeMaxNodes", pathMax},
	{"AutoscalingPolicy", pathAutoscaling},
	{"ClusterType", pathClusterType},
	{keyScaleDown, pathScaleDown},
	{keyIdletime, pathIdleTimeout},
	{keyTimeLimit, pathTimeLimit},
	{"MaxRequeues", pathRequeues},
}

// cfCreateName maps a native path to the cf-create key that sets it, used
// to name fields a cf-create request left to the template.
var cfCreateName = func() map[string]string {
	m := make(map[string]string)
	for _, k := range cfCreateKeys {
		if _, ok := m[k.path]; !ok {
			m[k.path] = k.key
		}
	}
	return m
}()

var (
	nativeTop     = []string{"region", "head", "compute"}
	nativeHead    = []string{"type", "volume_gb"}
	nativeCompute = []string{"types", "initial_nodes", "min_nodes", "max_nodes", "volume_gb", "spot_price", "autoscaling",
		"scale_down", "idle_timeout", "batch_window", "default_time_limit", "max_requeues"}
)

// Parse reads a request in either format (see the package documentation
// for how the format is detected); filename, which may be empty, only
// helps choose between JSON and YAML by its extension. On field problems
// it returns the fields that could be read together with an Errors; on a
// syntax error, or a document with nothing in it but white space or
// comments, the Request is empty.
func Parse(data []byte, filename string) (Request, error) {
	req, errs, _ := parse(data, filename, emptyMessage)
	return req, errs.finish().err()
}

// parse is Parse; fatal reports a problem that leaves nothing to merge
// (bad syntax, a document that is not a mapping). empty says what is wrong
// with a document that has nothing in it (a request's or a template's
// words).
func parse(data []byte, filename string, empty func(filename string) string) (req Request, errs Errors, fatal bool) {
	req = Request{Format: FormatNative, Sources: map[string]Source{}, invalid: map[string]bool{}}
	doc, ferr := parseDocument(data, filename)
	if ferr != nil {
		return req, Errors{*ferr}, true
	}
	if doc == nil {
		// No bytes, white space or comments only: a file not written yet
		// or the wrong one, more likely than a wish for every default,
		// which {} says.
		return req, Errors{{Message: empty(filename)}}, true
	}
	if doc.kind == kindNull {
		return req, nil, false // a null document sets nothing: everything from the template
	}
	if doc.kind != kindMap {
		return req, Errors{{Line: doc.line, Message: "the request must be a mapping of keys to values (a JSON object or YAML mapping), got " + doc.describe()}}, true
	}
	p := &parser{req: &req}
	if isCFCreate(doc) {
		req.Format = FormatCFCreate
		p.cfCreate(doc)
	} else {
		p.native(doc)
	}
	return req, p.errs, false
}

// emptyMessage is the problem with a request that has nothing in it.
func emptyMessage(filename string) string {
	return emptyDocument(filename, "the request", "write the request (JSON or YAML) in it, or {} to take every value from the template")
}

// emptyTemplateMessage is the problem with a template that has nothing in
// it.
func emptyTemplateMessage(filename string) string {
	return emptyDocument(filename, "the template", "write the template (YAML or JSON) in it, or {} to keep every built-in default")
}

// emptyDocument says that the document in filename (or, unnamed, what) has
// nothing in it, and what to do.
func emptyDocument(filename, what, fix string) string {
	if filename != "" {
		what = keyName(filename)
	}
	return "empty document: " + what + " has nothing in it but white space or comments; " + fix
}

// isCFCreate reports whether a top-level mapping is a cf-create request:
// it is when any of its keys starts with an upper-case letter, since no
// native key does.
func isCFCreate(doc *node) bool {
	for _, p := range doc.pairs {
		if p.key != "" && p.key[0] >= 'A' && p.key[0] <= 'Z' {
			return true
		}
	}
	return false
}

type parser struct {
	req  *Request
	errs Errors
}

func (p *parser) fail(field string, line int, format string, args ...any) {
	p.errs = append(p.errs, FieldError{Field: field, Line: line, Message: fmt.Sprintf(format, args...)})
}

// keys returns the pairs of m whose keys are known, reporting unknown and
// repeated keys. name makes a key a field name; unknownMsg gives the
// message for an unknown key.
func (p *parser) keys(m *node, known []string, name func(string) string, unknownMsg func(key string) string) []pair {
	seen := map[string]int{}
	var out []pair
	for _, kv := range m.pairs {
		if first, dup := seen[kv.key]; dup {
			p.fail(name(keyName(kv.key)), kv.line, "set twice (first on line %d); keep one", first)
			continue
		}
		seen[kv.key] = kv.line
		if !slices.Contains(known, kv.key) {
			p.fail(name(keyName(kv.key)), kv.line, "%s", unknownMsg(kv.key))
			continue
		}
		out = append(out, kv)
	}
	return out
}

// keyName is how an unknown key is shown as a field: as written, unless
// it is empty, very long or has characters that do not print (then it is
// quoted, and shortened).
func keyName(k string) string {
	if k == "" || utf8.RuneCountInString(k) > 64 || strings.ContainsFunc(k, func(r rune) bool { return !unicode.IsPrint(r) }) {
		return quote(k)
	}
	return k
}

// set records that path was given by key on line; ok=false records that
// its value could not be read.
func (p *parser) set(path, key string, line int, ok bool) {
	p.req.Sources[path] = Source{Key: key, Line: line}
	if !ok {
		p.req.invalid[path] = true
	}
}

// whole reads a whole number. Strings of digits are accepted when
// fromString is set (cf-create writes numbers as strings).
func (p *parser) whole(field string, kv pair, fromString bool) (int, bool) {
	v := kv.val
	switch {
	case v.kind == kindNumber, v.kind == kindString && fromString:
		i, err := strconv.Atoi(v.text)
		if err == nil {
			return i, true
		}
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			p.fail(field, kv.line, "must be a whole number, got %s (out of range)", v.describe())
			return 0, false
		}
	case v.kind == kindString:
		if _, err := strconv.Atoi(v.text); err == nil {
			p.fail(field, kv.line, "must be a whole number, got %s (a string; write it without quotes)", v.describe())
			return 0, false
		}
	}
	p.fail(field, kv.line, "must be a whole number, got %s", v.describe())
	return 0, false
}

// What string fields must be, for messages.
const (
	wantRegion      = "a region name, like us-east-1"
	wantType        = "an instance type name, like t3.small"
	wantPrice       = "an hourly price in dollars, like 0.03"
	wantAutoscaling = `"enabled" or "disabled"`
	wantClusterType = `"ondemand" or "spot"`
	wantScaleDown   = `"stratus", "immediate", "idle" or "billing-hour"`
)

// str reads a string; what says what it must be. Numbers are accepted, as
// written, for prices (0.03).
func (p *parser) str(field string, kv pair, what string) (string, bool) {
	v := kv.val
	if v.kind == kindString || v.kind == kindNumber && what == wantPrice {
		return v.text, true
	}
	p.fail(field, kv.line, "must be %s, got %s", what, v.describe())
	return "", false
}

// setInt reads a whole number into *dst and records its source.
func (p *parser) setInt(dst **int, path, field string, kv pair, fromString bool) {
	i, ok := p.whole(field, kv, fromString)
	if ok {
		*dst = &i
	}
	p.set(path, field, kv.line, ok)
}

// setString reads a string into *dst and records its source.
func (p *parser) setString(dst **string, path, field string, kv pair, what string) {
	s, ok := p.str(field, kv, what)
	if ok {
		*dst = &s
	}
	p.set(path, field, kv.line, ok)
}

// setDuration reads a native duration into *dst and records its source:
// a string (in YAML also unquoted, 10m), or the number 0. Whether the
// string is a valid duration is checked by Validate.
func (p *parser) setDuration(dst **string, path, field string, kv pair) {
	v := kv.val
	ok := v.kind == kindString
	if v.kind == kindNumber {
		if _, err := time.ParseDuration(v.text); err == nil { // 0
			ok = true
		} else {
			p.fail(field, kv.line, "must be a duration like %s, got %s (a number without a unit; write it like %ss or %sm)", durationExample[path], v.text, v.text, v.text)
		}
	} else if !ok {
		p.fail(field, kv.line, "must be a duration like %s, got %s", durationExample[path], v.describe())
	}
	if ok {
		s := v.text
		*dst = &s
	}
	p.set(path, field, kv.line, ok)
}

// native decodes a native spec.
func (p *parser) native(doc *node) {
	r := p.req
	join := func(prefix string) func(string) string {
		return func(k string) string { return prefix + k }
	}
	unknown := func(prefix string, known []string) func(string) string {
		return func(k string) string {
			if s := closest(k, known); s != "" {
				return fmt.Sprintf("unknown field; did you mean %s%s?", prefix, s)
			}
			return fmt.Sprintf("unknown field; the fields here are %s", strings.Join(known, ", "))
		}
	}
	for _, kv := range p.keys(doc, nativeTop, join(""), unknown("", nativeTop)) {
		if kv.val.kind == kindNull {
			continue
		}
		switch kv.key {
		case "region":
			p.setString(&r.Region, pathRegion, pathRegion, kv, wantRegion)
		case "head":
			if kv.val.kind != kindMap {
				p.fail("head", kv.line, "must be a mapping with the fields %s, got %s", strings.Join(nativeHead, ", "), kv.val.describe())
				continue
			}
			for _, f := range p.keys(kv.val, nativeHead, join("head."), unknown("head.", nativeHead)) {
				if f.val.kind == kindNull {
					continue
				}
				path := "head." + f.key
				switch f.key {
				case "type":
					p.setString(&r.HeadType, path, path, f, wantType)
				case "volume_gb":
					p.setInt(&r.HeadVolumeGB, path, path, f, false)
				}
			}
		case "compute":
			if kv.val.kind != kindMap {
				p.fail("compute", kv.line, "must be a mapping with the fields %s, got %s", strings.Join(nativeCompute, ", "), kv.val.describe())
				continue
			}
			for _, f := range p.keys(kv.val, nativeCompute, join("compute."), unknown("compute.", nativeCompute)) {
				if f.val.kind == kindNull {
					continue
				}
				path := "compute." + f.key
				switch f.key {
				case "types":
					p.nativeTypes(f)
				case "initial_nodes":
					p.setInt(&r.ComputeInitialNodes, path, path, f, false)
				case "min_nodes":
					p.setInt(&r.ComputeMinNodes, path, path, f, false)
				case "max_nodes":
					p.setInt(&r.ComputeMaxNodes, path, path, f, false)
				case "volume_gb":
					p.setInt(&r.ComputeVolumeGB, path, path, f, false)
				case "spot_price":
					p.setString(&r.ComputeSpotPrice, path, path, f, wantPrice)
				case "autoscaling":
					p.setString(&r.ComputeAutoscaling, path, path, f, wantAutoscaling)
				case "scale_down":
					p.setString(&r.ComputeScaleDown, path, path, f, wantScaleDown)
				case "idle_timeout":
					p.setDuration(&r.ComputeIdleTimeout, path, path, f)
				case "batch_window":
					p.setDuration(&r.ComputeBatchWindow, path, path, f)
				case "default_time_limit":
					p.setDuration(&r.ComputeDefaultTimeLimit, path, path, f)
				case "max_requeues":
					p.setInt(&r.ComputeMaxRequeues, path, path, f, false)
				}
			}
		}
	}
}

func (p *parser) nativeTypes(kv pair) {
	if kv.val.kind != kindList {
		p.fail(pathTypes, kv.line, "must be a list of instance types, like [m5.large], got %s", kv.val.describe())
		p.set(pathTypes, pathTypes, kv.line, false)
		return
	}
	ok := true
	types := make([]string, 0, len(kv.val.items))
	for i, item := range kv.val.items {
		path := fmt.Sprintf("%s[%d]", pathTypes, i)
		if item.kind != kindString {
			p.fail(path, item.line, "must be %s, got %s", wantType, item.describe())
			ok = false
			continue
		}
		p.req.Sources[path] = Source{Key: path, Line: item.line}
		types = append(types, item.text)
	}
	if ok {
		p.req.ComputeTypes = &types
	}
	p.set(pathTypes, pathTypes, kv.line, ok)
}

// cfCreate decodes a cf-create request.
func (p *parser) cfCreate(doc *node) {
	r := p.req
	known := make([]string, len(cfCreateKeys))
	for i, k := range cfCreateKeys {
		known[i] = k.key
	}
	unknown := func(k string) string {
		if s := closest(k, known); s != "" {
			return fmt.Sprintf("unknown key; did you mean %s?", s)
		}
		if slices.Contains(nativeTop, k) {
			return "unknown key; native spec fields cannot be mixed with cf-create keys"
		}
		return "unknown key; the cf-create keys are " + strings.Join(known, ", ")
	}
	var types = map[string]pair{} // the four instance type keys
	var idletime *pair            // ScaledownIdletime, resolved after ScaleDownPolicy
	for _, kv := range p.keys(doc, known, func(k string) string { return k }, unknown) {
		if kv.val.kind == kindNull {
			continue
		}
		switch k := kv.key; k {
		case "Region":
			p.setString(&r.Region, pathRegion, k, kv, wantRegion)
		case keyMasterType, keyMasterOther, keyComputeType, keyComputeOther:
			types[k] = kv
		case "MasterSystemVolumeSize":
			p.setInt(&r.HeadVolumeGB, pathHeadVolume, k, kv, true)
		case "ComputeSystemVolumeSize":
			p.setInt(&r.ComputeVolumeGB, pathVolume, k, kv, true)
		case "ComputeSpotPrice":
			p.setString(&r.ComputeSpotPrice, pathSpotPrice, k, kv, wantPrice)
		case "ComputeInitialNodes":
			p.setInt(&r.ComputeInitialNodes, pathInitial, k, kv, true)
		case "ComputeMinNodes":
			p.setInt(&r.ComputeMinNodes, pathMin, k, kv, true)
		case "ComputeMaxNodes":
			p.setInt(&r.ComputeMaxNodes, pathMax, k, kv, true)
		case "AutoscalingPolicy":
			p.setString(&r.ComputeAutoscaling, pathAutoscaling, k, kv, wantAutoscaling)
		case keyScaleDown:
			p.setString(&r.ComputeScaleDown, pathScaleDown, k, kv, wantScaleDown)
		case keyIdletime:
			idletime = &kv
		case keyTimeLimit:
			p.timeLimit(kv)
		case "MaxRequeues":
			p.setInt(&r.ComputeMaxRequeues, pathRequeues, k, kv, true)
		case "ClusterType":
			s, ok := p.str(k, kv, wantClusterType)
			if ok && s != clusterOnDemand && s != clusterSpot {
				p.fail(k, kv.line, "must be %s, got %s", wantClusterType, quote(s))
				ok = false
			}
			if ok {
				r.ClusterType = s
			}
			p.set(pathClusterType, k, kv.line, ok)
		}
	}
	if idletime != nil {
		p.idletime(*idletime)
	}
	if head, ok := p.instanceType(types, keyMasterType, keyMasterOther, pathHeadType, false); ok {
		h := head[0]
		r.HeadType = &h
	}
	if compute, ok := p.instanceType(types, keyComputeType, keyComputeOther, pathTypes, true); ok {
		r.ComputeTypes = &compute
	}
	if r.ClusterType == clusterOnDemand && r.ComputeSpotPrice != nil && *r.ComputeSpotPrice != "" {
		src := r.Sources[pathSpotPrice]
		p.fail(src.Key, src.Line, "must not be set when ClusterType is %q; remove one of them", clusterOnDemand)
		r.invalid[pathSpotPrice] = true
	}
}

// minutes reads a cf-create number of minutes (a whole number, or a
// string of digits) from least to most, as a duration ("90m"). isNumber
// is false, and nothing is reported, when the value is not a whole
// number; a whole number out of range is reported (what says what the
// value must be) and gives ok=false.
func (p *parser) minutes(kv pair, least, most int, what string) (d string, isNumber, ok bool) {
	v := kv.val
	if v.kind != kindNumber && v.kind != kindString {
		return "", false, false
	}
	n, err := strconv.Atoi(v.text)
	if err != nil {
		if ne, isNum := err.(*strconv.NumError); isNum && ne.Err == strconv.ErrRange {
			p.fail(kv.key, kv.line, "must be %s, got %s (out of range)", what, v.describe())
			return "", true, false
		}
		return "", false, false
	}
	if n < least || n > most {
		p.fail(kv.key, kv.line, "must be between %d and %d (minutes), got %s", least, most, v.describe())
		return "", true, false
	}
	return strconv.Itoa(n) + "m", true, true
}

// idletime reads ScaledownIdletime, ParallelCluster's key: minutes a node
// may be idle before it is removed. It sets compute.idle_timeout and, unless
// ScaleDownPolicy is set, compute.scale_down to idle.
func (p *parser) idletime(kv pair) {
	r := p.req
	const what = "a whole number of minutes, like 10"
	d, isNumber, ok := p.minutes(kv, 0, int(MaxIdleTimeout/time.Minute), what)
	if !isNumber {
		p.fail(kv.key, kv.line, "must be %s, got %s", what, kv.val.describe())
	}
	if ok {
		r.ComputeIdleTimeout = &d
	}
	p.set(pathIdleTimeout, kv.key, kv.line, ok)
	switch {
	case r.ComputeScaleDown == nil && !r.invalid[pathScaleDown]:
		idle := scaleDownIdle
		r.ComputeScaleDown = &idle
		p.set(pathScaleDown, kv.key, kv.line, true)
	case r.ComputeScaleDown != nil && *r.ComputeScaleDown != scaleDownIdle && slices.Contains(scaleDownPolicies, *r.ComputeScaleDown):
		p.fail(kv.key, kv.line, "is only used by the %q policy, but %s is %s; set %s to %q, or remove %s", scaleDownIdle, keyScaleDown, quote(*r.ComputeScaleDown), keyScaleDown, scaleDownIdle, kv.key)
		r.invalid[pathIdleTimeout] = true
	}
}

// timeLimit reads JobDefaultTimeLimit: a duration (1h30m) or a number of
// minutes (90, "90").
func (p *parser) timeLimit(kv pair) {
	const what = "a duration like 1h, or a whole number of minutes"
	d, isNumber, ok := p.minutes(kv, 1, int(MaxDefaultTimeLimit/time.Minute), what)
	if !isNumber {
		// Not a whole number: a duration string.
		if kv.val.kind == kindString {
			if _, err := time.ParseDuration(kv.val.text); err == nil {
				d, ok = kv.val.text, true
			}
		}
		if !ok {
			p.fail(kv.key, kv.line, "must be %s, got %s", what, kv.val.describe())
		}
	}
	if ok {
		p.req.ComputeDefaultTimeLimit = &d
	}
	p.set(pathTimeLimit, kv.key, kv.line, ok)
}

// instanceType resolves a cf-create instance type key and its *Other key:
// "other" in the main key means "use the *Other key". ok is false when
// neither is set or there is a problem (which is reported).
func (p *parser) instanceType(types map[string]pair, mainKey, otherKey, path string, list bool) (names []string, ok bool) {
	main, hasMain := types[mainKey]
	other, hasOther := types[otherKey]
	var mainValue string
	if hasMain {
		if mainValue, ok = p.str(mainKey, main, wantType); !ok {
			p.set(path, mainKey, main.line, false)
			return nil, false
		}
	}
	use, key := main, mainKey
	isOther := hasMain && strings.EqualFold(strings.TrimSpace(mainValue), valueOther)
	switch {
	case !hasMain && !hasOther:
		return nil, false
	case hasOther && !hasMain:
		p.fail(otherKey, other.line, "is only used when %s is %q, but %s is not set; set %s to %q, or put the type in %s instead", mainKey, valueOther, mainKey, mainKey, valueOther, mainKey)
		p.set(path, otherKey, other.line, false)
		return nil, false
	case hasOther && !isOther:
		p.fail(otherKey, other.line, "is only used when %s is %q, but %s is %s; remove one of them", mainKey, valueOther, mainKey, quote(mainValue))
		p.set(path, otherKey, other.line, false)
		return nil, false
	case isOther && !hasOther:
		p.fail(mainKey, main.line, "is %q but %s is not set; set %s to the instance type, or set %s to it directly", valueOther, otherKey, otherKey, mainKey)
		p.set(path, mainKey, main.line, false)
		return nil, false
	case isOther:
		use, key = other, otherKey
	}
	value, ok := p.str(key, use, wantType)
	if !ok {
		p.set(path, key, use.line, false)
		return nil, false
	}
	for _, part := range strings.Split(value, ",") {
		names = append(names, reduceType(strings.TrimSpace(part)))
	}
	switch {
	case !list && len(names) > 1:
		p.fail(key, use.line, "must be a single instance type, got %s (only %s takes a list)", quote(value), keyComputeType)
		ok = false
	case len(names) > 1 && slices.Contains(names, ""):
		p.fail(key, use.line, "has an empty entry in its list %s; separate types with single commas", quote(value))
		ok = false
	}
	p.set(path, key, use.line, ok)
	return names, ok
}

var (
	typeNameRE    = regexp.MustCompile(`^[a-z][a-z0-9]*\.[a-z0-9]+$`)
	descriptionRE = regexp.MustCompile(`^[0-9][A-Za-z0-9.]*(-[0-9][A-Za-z0-9.]*)*$`)
)

// reduceType drops a descriptive suffix from an instance type as written
// in cf-create requests: "r4.large-2C-15.25GB" is r4.large. The suffix is
// dropped only when the part before the first dash looks like a type name
// (family.size) and every dash-separated part of the rest starts with a
// digit, so names that merely contain a dash are kept as they are.
func reduceType(s string) string {
	base, desc, found := strings.Cut(s, "-")
	if found && typeNameRE.MatchString(base) && descriptionRE.MatchString(desc) {
		return base
	}
	return s
}

// Where returns how the request in data names the native field path (such
// as "region") and the line it set it on: the key the user wrote, or for a
// cf-create request that left the field to the template its cf-create key
// (line 0), or else the path. It reports a problem found after Build, such
// as a region the provider does not have, the way Build reports its own.
func Where(data []byte, filename, path string) (field string, line int) {
	req, _, _ := parse(data, filename, emptyMessage)
	c := &checker{req: &req}
	s, _ := c.source(path)
	return c.name(path), s.Line
}
