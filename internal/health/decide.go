package health

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/stratus-cloud/stratus/internal/store"
)

// States of a check and of a replica group's member.
const (
	StateOK      = "ok"
	StateFailing = "failing"
	StateBehind  = "behind"
)

// Compare modes of a replica group.
const (
	CompareMajority = "majority"
	CompareNewest   = "newest"
)

// Severities of events.
const (
	SeverityInfo     = "info"
	SeverityWarning  = "warning"
	SeverityCritical = "critical"
)

// Event is a change of state worth telling someone about.
type Event struct {
	Check    string
	Kind     string // check.failing, check.recovered, check.behind, check.caught_up
	Severity string
	Member   string
	Message  string
}

// Observation is what one round of probing a check saw.
type Observation struct {
	Name string
	Kind string
	// Err is why a probe failed ("" if it passed); Detail describes a pass.
	Err    string
	Detail string
	// Members are a replica group's members in order, with their values
	// (or errors). Compare is the group's compare mode.
	Members []MemberObservation
	Compare string
}

// MemberObservation is one member's value, or why it could not be read.
type MemberObservation struct {
	URL   string
	Value string
	Err   string
}

// Reference returns the value members must have: the most common value
// (ties go to the highest) or the highest, among the members read. ok is
// false when no member could be read.
func Reference(ms []MemberObservation, compare string) (ref string, ok bool) {
	var vals []string
	for _, m := range ms {
		if m.Err == "" {
			vals = append(vals, m.Value)
		}
	}
	if len(vals) == 0 {
		return "", false
	}
	numeric := true
	for _, v := range vals {
		if _, err := strconv.ParseFloat(v, 64); err != nil {
			numeric = false
		}
	}
	less := func(a, b string) bool {
		if numeric {
			x, _ := strconv.ParseFloat(a, 64)
			y, _ := strconv.ParseFloat(b, 64)
			return x < y
		}
		return a < b
	}
	sort.SliceStable(vals, func(i, j int) bool { return less(vals[i], vals[j]) })
	if compare == CompareNewest {
		return vals[len(vals)-1], true
	}
	best, bestN := "", 0
	for i := 0; i < len(vals); {
		j := i
		for j < len(vals) && vals[j] == vals[i] {
			j++
		}
		if j-i >= bestN { // >=: ties go to the highest
			best, bestN = vals[i], j-i
		}
		i = j
	}
	return best, true
}

// Decide is the pure decision: given a check's previous state (nil if
// none), what was observed and the time, it returns the new state and the
// events for the changes (none when nothing changed).
func Decide(prev *store.CheckState, obs Observation, now time.Time) (store.CheckState, []Event) {
	next := store.CheckState{Name: obs.Name, Kind: obs.Kind, LastProbe: now}
	var events []Event
	prevState := ""
	if prev != nil && prev.Kind == obs.Kind {
		prevState = prev.State
	}
	if obs.Kind == KindProbe {
		next.State, next.Detail = StateOK, obs.Detail
		if obs.Err != "" {
			next.State, next.Detail = StateFailing, obs.Err
		}
		switch {
		case next.State == StateFailing && prevState != StateFailing:
			events = append(events, Event{Check: obs.Name, Kind: "check.failing", Severity: SeverityCritical,
				Message: fmt.Sprintf("check %s is failing: %s", obs.Name, obs.Err)})
		case next.State == StateOK && prevState == StateFailing:
			events = append(events, Event{Check: obs.Name, Kind: "check.recovered", Severity: SeverityInfo,
				Message: fmt.Sprintf("check %s recovered: %s", obs.Name, obs.Detail)})
		}
	} else {
		prevMember := map[string]store.CheckMember{}
		if prev != nil {
			for _, m := range prev.Members {
				prevMember[m.URL] = m
			}
		}
		ref, _ := Reference(obs.Members, obs.Compare)
		var behind, failing []string
		for _, m := range obs.Members {
			cm := store.CheckMember{URL: m.URL, Value: m.Value, Error: m.Err, State: StateOK}
			switch {
			case m.Err != "":
				cm.State = StateFailing
				failing = append(failing, m.URL)
			case m.Value != ref:
				cm.State = StateBehind
				behind = append(behind, m.URL)
			}
			pm, had := prevMember[m.URL]
			cm.Since = now
			if had && pm.State == cm.State {
				cm.Since = pm.Since
			}
			if !had || pm.State != cm.State {
				events = append(events, memberEvent(obs.Name, had, pm.State, cm, ref)...)
			}
			next.Members = append(next.Members, cm)
		}
		switch {
		case len(failing) == len(obs.Members):
			next.State = StateFailing
			next.Detail = "no member answered"
		case len(behind) > 0 || len(failing) > 0:
			next.State = StateBehind
			var parts []string
			if len(behind) > 0 {
				parts = append(parts, fmt.Sprintf("behind %q: %s", ref, strings.Join(behind, ", ")))
			}
			if len(failing) > 0 {
				parts = append(parts, "failing: "+strings.Join(failing, ", "))
			}
			next.Detail = strings.Join(parts, "; ")
		default:
			next.State = StateOK
			next.Detail = fmt.Sprintf("all %d members at %q", len(obs.Members), ref)
		}
	}
	next.Since = now
	if prev != nil && prevState == next.State {
		next.Since = prev.Since
	}
	return next, events
}

// memberEvent is the event for a member entering state m.State from
// prevState (had: the member was known before). A new member that is ok
// gets none.
func memberEvent(check string, had bool, prevState string, m store.CheckMember, ref string) []Event {
	switch m.State {
	case StateBehind:
		return []Event{{Check: check, Member: m.URL, Kind: "check.behind", Severity: SeverityWarning,
			Message: fmt.Sprintf("check %s: %s is behind: has %q, want %q", check, m.URL, m.Value, ref)}}
	case StateFailing:
		return []Event{{Check: check, Member: m.URL, Kind: "check.failing", Severity: SeverityCritical,
			Message: fmt.Sprintf("check %s: %s is failing: %s", check, m.URL, m.Error)}}
	}
	if !had {
		return nil
	}
	if prevState == StateBehind {
		return []Event{{Check: check, Member: m.URL, Kind: "check.caught_up", Severity: SeverityInfo,
			Message: fmt.Sprintf("check %s: %s caught up at %q", check, m.URL, m.Value)}}
	}
	return []Event{{Check: check, Member: m.URL, Kind: "check.recovered", Severity: SeverityInfo,
		Message: fmt.Sprintf("check %s: %s recovered at %q", check, m.URL, m.Value)}}
}
