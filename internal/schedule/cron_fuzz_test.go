package schedule

import (
	"strings"
	"testing"
	"time"
)

// FuzzParseCron checks that any expression either parses into a schedule
// whose next tick is after the time asked (or none) or is refused with a
// message that quotes it or says it is empty; never a panic.
func FuzzParseCron(f *testing.F) {
	for _, seed := range []string{
		"30 0,6,12,18 * * *", "*/15 * * * *", "0 0 * * 7", "0 0 * * 5-7", "0 0 30 2 *",
		"@hourly", "@every 1h", "TZ=UTC 0 * * * *", "", "0 24 * * *", "1-7/2 * * * mon-fri", "0 0 1 jan,jul sun",
	} {
		f.Add(seed)
	}
	at := time.Date(2026, 11, 22, 10, 30, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, expr string) {
		c, err := ParseCron(expr, time.UTC)
		if err != nil {
			msg := err.Error()
			if msg == "" {
				t.Fatalf("ParseCron(%q): empty error", expr)
			}
			if strings.TrimSpace(expr) != "" && !strings.Contains(msg, "never fires") && !strings.Contains(msg, "\"") {
				t.Fatalf("ParseCron(%q) error %q does not quote what was wrong", expr, msg)
			}
			return
		}
		next := c.Next(at)
		if next.IsZero() || !next.After(at) {
			t.Fatalf("ParseCron(%q).Next(%s) = %s, want a tick after it", expr, at, next)
		}
		if again := c.Next(next); !again.IsZero() && !again.After(next) {
			t.Fatalf("ParseCron(%q): the tick after %s is %s", expr, next, again)
		}
	})
}
