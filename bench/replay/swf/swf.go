// Package swf reads job traces in the Standard Workload Format of the
// Parallel Workloads Archive: header lines starting with ';' (such as
// "; MaxNodes: 100"), then one job per line of 18 whitespace-separated
// numeric fields, -1 meaning unknown.
package swf

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// Unknown is the value of a field the trace does not know.
const Unknown = -1

// Header holds the header fields of a trace. Numeric fields missing from
// the header are Unknown.
type Header struct {
	MaxNodes      int64
	MaxProcs      int64
	UnixStartTime int64
	// TimeZone is the trace's offset from UTC in seconds.
	TimeZone int64
	// Fields holds every "; Key: value" line, by key (continuation lines
	// are not joined).
	Fields map[string]string
}

// Job is one job line. Times are in seconds; fields 6 and 7 may be
// fractional in the format and are kept as float64.
type Job struct {
	Number         int64   // field 1
	Submit         int64   // field 2: seconds from the start of the log
	Wait           int64   // field 3
	RunTime        int64   // field 4
	AllocProcs     int64   // field 5
	AvgCPUTime     float64 // field 6
	UsedMemory     float64 // field 7: KB per processor
	ReqProcs       int64   // field 8
	ReqTime        int64   // field 9: the user's runtime estimate
	ReqMemory      int64   // field 10
	Status         int64   // field 11: 1 completed, 0 failed, 5 cancelled
	User           int64   // field 12
	Group          int64   // field 13
	Executable     int64   // field 14
	Queue          int64   // field 15
	Partition      int64   // field 16
	PrecedingJob   int64   // field 17
	ThinkTimeAfter int64   // field 18
}

// Trace is a parsed trace.
type Trace struct {
	Header Header
	Jobs   []Job
}

// NumFields is the number of fields of a job line.
const NumFields = 18

// fieldNames name the fields in error messages.
var fieldNames = [NumFields]string{
	"job number", "submit time", "wait time", "run time", "allocated processors",
	"average CPU time", "used memory", "requested processors", "requested time",
	"requested memory", "status", "user", "group", "executable", "queue",
	"partition", "preceding job", "think time",
}

// Parse reads a trace. An error names the line (counting from 1) and the
// field that is wrong.
func Parse(r io.Reader) (*Trace, error) {
	t := &Trace{Header: Header{
		MaxNodes: Unknown, MaxProcs: Unknown, UnixStartTime: Unknown, TimeZone: Unknown,
		Fields: map[string]string{},
	}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		if strings.HasPrefix(text, ";") {
			if err := t.Header.parse(text); err != nil {
				return nil, fmt.Errorf("line %d: %w", line, err)
			}
			continue
		}
		j, err := parseJob(text)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		t.Jobs = append(t.Jobs, j)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("line %d: %w", line+1, err)
	}
	return t, nil
}

// parse reads one header line.
func (h *Header) parse(text string) error {
	raw := strings.TrimPrefix(text, ";")
	key, value, ok := strings.Cut(raw, ":")
	if !ok || strings.HasPrefix(raw, "  ") || !isKey(strings.TrimSpace(key)) {
		return nil // a comment, or the continuation of the line above
	}
	key = strings.TrimSpace(key)
	value = strings.TrimSpace(value)
	h.Fields[key] = value
	var dst *int64
	switch key {
	case "MaxNodes":
		dst = &h.MaxNodes
	case "MaxProcs":
		dst = &h.MaxProcs
	case "UnixStartTime":
		dst = &h.UnixStartTime
	case "TimeZone":
		dst = &h.TimeZone
	default:
		return nil
	}
	v, err := strconv.ParseInt(value, 10, 64)
	if err != nil {
		return fmt.Errorf("header %s: %q is not an integer", key, value)
	}
	*dst = v
	return nil
}

// isKey reports whether s can be a header key: letters and digits.
func isKey(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9') {
			return false
		}
	}
	return true
}

func parseJob(text string) (Job, error) {
	f := strings.Fields(text)
	if len(f) != NumFields {
		return Job{}, fmt.Errorf("%d fields, want %d", len(f), NumFields)
	}
	var v [NumFields]float64
	for i, s := range f {
		x, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
			return Job{}, fmt.Errorf("field %d (%s): %q is not a number", i+1, fieldNames[i], s)
		}
		v[i] = x
	}
	n := func(i int) int64 { return int64(math.Round(v[i-1])) }
	return Job{
		Number: n(1), Submit: n(2), Wait: n(3), RunTime: n(4), AllocProcs: n(5),
		AvgCPUTime: v[5], UsedMemory: v[6], ReqProcs: n(8), ReqTime: n(9),
		ReqMemory: n(10), Status: n(11), User: n(12), Group: n(13),
		Executable: n(14), Queue: n(15), Partition: n(16), PrecedingJob: n(17),
		ThinkTimeAfter: n(18),
	}, nil
}

// Procs returns the processors job j used: the allocated ones, else the
// requested ones, else Unknown.
func (j Job) Procs() int64 {
	switch {
	case j.AllocProcs > 0:
		return j.AllocProcs
	case j.ReqProcs > 0:
		return j.ReqProcs
	}
	return Unknown
}

// Nodes returns how many nodes of a machine with maxProcs processors on
// maxNodes nodes the job needs: ceil(procs / (maxProcs/maxNodes)), or procs
// when the header does not say. Unknown if the processors are unknown.
func (h Header) Nodes(j Job) int64 {
	p := j.Procs()
	if p <= 0 {
		return Unknown
	}
	if h.MaxNodes <= 0 || h.MaxProcs <= 0 {
		return p
	}
	return (p*h.MaxNodes + h.MaxProcs - 1) / h.MaxProcs
}
