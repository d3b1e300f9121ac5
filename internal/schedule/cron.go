package schedule

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // time zones work on hosts without a zoneinfo database

	"github.com/robfig/cron/v3"
)

// Cron is a parsed cron expression in its time zone: the ticks of a
// schedule.
type Cron struct {
	spec *cron.SpecSchedule
}

// Next returns the first tick strictly after t (zero if there is none
// within five years).
func (c Cron) Next(t time.Time) time.Time { return c.spec.Next(t) }

// Location is the time zone the expression is read in.
func (c Cron) Location() *time.Location { return c.spec.Location }

var cronFields = []string{"minute", "hour", "day-of-month", "month", "day-of-week"}

var parser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// cronHint shows the expected form, for error messages.
const cronHint = `five fields: minute hour day-of-month month day-of-week, like "30 0,6,12,18 * * *", or @hourly, @daily, @weekly, @monthly`

// ParseTimezone returns the location an IANA time zone name stands for
// ("" and "UTC" are UTC), with an error saying what to give instead.
func ParseTimezone(tz string) (*time.Location, error) {
	if tz == "" {
		return time.UTC, nil
	}
	if strings.EqualFold(tz, "local") {
		return nil, fmt.Errorf("%q depends on the server's settings: give an IANA time zone name such as Europe/Paris, America/New_York or UTC", tz)
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return nil, fmt.Errorf("unknown time zone %q: give an IANA time zone name such as Europe/Paris, America/New_York or UTC", tz)
	}
	return loc, nil
}

// ParseCron parses a standard cron expression (five fields, or a
// descriptor such as @daily) to be read in loc. Its errors name the field
// that is wrong and the form wanted.
func ParseCron(expr string, loc *time.Location) (Cron, error) {
	expr = strings.TrimSpace(expr)
	switch {
	case expr == "":
		return Cron{}, fmt.Errorf("must not be empty: give %s", cronHint)
	case strings.HasPrefix(expr, "TZ=") || strings.HasPrefix(expr, "CRON_TZ="):
		return Cron{}, fmt.Errorf("%q: give the time zone with --timezone (timezone), not in the expression", expr)
	case strings.HasPrefix(expr, "@every"):
		return Cron{}, fmt.Errorf("%q: @every is not supported: give %s", expr, cronHint)
	}
	fields := strings.Fields(expr)
	if !strings.HasPrefix(expr, "@") && len(fields) != len(cronFields) {
		return Cron{}, fmt.Errorf("%q has %d %s: want %s", expr, len(fields), plural(len(fields), "field", "fields"), cronHint)
	}
	parsed := expr
	if !strings.HasPrefix(expr, "@") {
		// Day-of-week 7 is Sunday, as cron has it.
		fields = slices.Clone(fields)
		fields[4] = sundayAsZero(fields[4])
		parsed = strings.Join(fields, " ")
	}
	sched, err := parser.Parse(parsed)
	if err != nil {
		if strings.HasPrefix(expr, "@") {
			return Cron{}, fmt.Errorf("%q: unknown descriptor: want %s", expr, cronHint)
		}
		// Name the field: parse each alone, the others as "*".
		for i, f := range fields {
			probe := make([]string, len(cronFields))
			for j := range probe {
				probe[j] = "*"
			}
			probe[i] = f
			if _, ferr := parser.Parse(strings.Join(probe, " ")); ferr != nil {
				msg := ferr.Error()
				if strings.Contains(msg, "failed to parse int") {
					msg = "want *, a number, a range (1-5), a list (1,3,5), a step (*/15) or a name (mon, jan)"
				}
				if i == 4 {
					// 7 is Sunday too (see sundayAsZero).
					msg = strings.ReplaceAll(msg, "maximum (6)", "maximum (7)")
				}
				return Cron{}, fmt.Errorf("%q: %s field %q: %s", expr, cronFields[i], strings.Fields(expr)[i], trimCronSuffix(msg))
			}
		}
		return Cron{}, fmt.Errorf("%q: %v: want %s", expr, err, cronHint)
	}
	spec, ok := sched.(*cron.SpecSchedule)
	if !ok {
		return Cron{}, fmt.Errorf("%q: want %s", expr, cronHint)
	}
	if loc == nil {
		loc = time.UTC
	}
	spec.Location = loc
	c := Cron{spec: spec}
	// An expression such as "0 0 30 2 *" (30 February) never fires.
	if c.Next(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)).IsZero() {
		return Cron{}, fmt.Errorf("%q never fires (no such date): check the day-of-month and month fields", expr)
	}
	return c, nil
}

// trimCronSuffix drops the part of the field the cron parser repeats at
// the end of its messages ("end of range (24) above maximum (23): 24").
func trimCronSuffix(msg string) string {
	if i := strings.LastIndex(msg, ": "); i > 0 {
		return msg[:i]
	}
	return msg
}

// sundayAsZero rewrites a day-of-week field so that 7, which cron takes
// for Sunday as 0 is, reads as 0: "7" becomes "0" and a range ending at 7
// ("5-7", "1-7/2") the list of its days.
func sundayAsZero(field string) string {
	parts := strings.Split(field, ",")
	for i, part := range parts {
		rng, stepText, hasStep := strings.Cut(part, "/")
		if rng == "7" {
			// "7", and "7/N" (from 7 to 7, every N days): Sunday.
			if step, err := strconv.Atoi(stepText); !hasStep || err == nil && step > 0 {
				parts[i] = "0"
			}
			continue
		}
		loText, hiText, isRange := strings.Cut(rng, "-")
		lo, err1 := strconv.Atoi(loText)
		hi, err2 := strconv.Atoi(hiText)
		step := 1
		if hasStep {
			var err error
			if step, err = strconv.Atoi(stepText); err != nil || step <= 0 {
				continue // the parser says what is wrong
			}
		}
		if !isRange || err1 != nil || err2 != nil || hi != 7 || lo < 0 || lo > hi {
			continue
		}
		var days []string
		for d := lo; d <= hi; d += step {
			days = append(days, strconv.Itoa(d%7))
		}
		parts[i] = strings.Join(days, ",")
	}
	return strings.Join(parts, ",")
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
