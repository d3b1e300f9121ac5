package schedule

import (
	"strings"
	"testing"
	"time"
)

// Day-of-week 7 is Sunday, as in cron: alone, ending a range, and in a
// stepped range.
func TestParseCron_SundayIsSeven(t *testing.T) {
	t.Parallel()
	// Sunday 1 November 2026 00:00 UTC.
	sun := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		expr string
		from time.Time
		want time.Time
	}{
		{"0 9 * * 7", sun.Add(-24 * time.Hour), sun.Add(9 * time.Hour)},
		{"0 9 * * 0", sun.Add(-24 * time.Hour), sun.Add(9 * time.Hour)},
		// Friday to Sunday: after Saturday 9:00 comes Sunday 9:00, and
		// after that Friday.
		{"0 9 * * 5-7", sun.Add(-15 * time.Hour), sun.Add(9 * time.Hour)},
		{"0 9 * * 5-7", sun.Add(10 * time.Hour), sun.Add(5*24*time.Hour + 9*time.Hour)},
		// Monday, Wednesday, Friday and Sunday.
		{"0 9 * * 1-7/2", sun.Add(-15 * time.Hour), sun.Add(9 * time.Hour)},
		{"0 9 * * 1-7/2", sun.Add(10 * time.Hour), sun.Add(24*time.Hour + 9*time.Hour)},
		{"0 9 * * 3,7", sun.Add(-15 * time.Hour), sun.Add(9 * time.Hour)},
		// 7/2 is from 7 to 7 every other day: Sunday only.
		{"0 9 * * 7/2", sun.Add(-24 * time.Hour), sun.Add(9 * time.Hour)},
		{"0 9 * * 7/2", sun.Add(10 * time.Hour), sun.Add(7*24*time.Hour + 9*time.Hour)},
	}
	for _, tc := range tests {
		c, err := ParseCron(tc.expr, time.UTC)
		if err != nil {
			t.Errorf("ParseCron(%q): %v", tc.expr, err)
			continue
		}
		if got := c.Next(tc.from); !got.Equal(tc.want) {
			t.Errorf("%q: next after %s = %s, want %s", tc.expr, tc.from.Format(time.RFC1123), got.Format(time.RFC1123), tc.want.Format(time.RFC1123))
		}
	}
	if _, err := ParseCron("0 9 * * 8", time.UTC); err == nil || !strings.Contains(err.Error(), `day-of-week field "8"`) {
		t.Errorf("day-of-week 8: %v, want an error naming the field", err)
	}
}

// Errors name the field and the rule, without the parser's repetition of
// the value at the end.
func TestParseCron_ErrorsAreClean(t *testing.T) {
	t.Parallel()
	tests := []struct{ expr, want string }{
		{"0 24 * * *", `"0 24 * * *": hour field "24": end of range (24) above maximum (23)`},
		{"60 * * * *", `"60 * * * *": minute field "60": end of range (60) above maximum (59)`},
		{"* * 0 * *", `"* * 0 * *": day-of-month field "0": beginning of range (0) below minimum (1)`},
		{"* * * 5-2 *", `"* * * 5-2 *": month field "5-2": beginning of range (5) beyond end of range (2)`},
		{"0 1,24 * * *", `"0 1,24 * * *": hour field "1,24": end of range (24) above maximum (23)`},
		// 7 is Sunday, so the day-of-week maximum is 7.
		{"0 0 * * 8", `"0 0 * * 8": day-of-week field "8": end of range (8) above maximum (7)`},
	}
	for _, tc := range tests {
		_, err := ParseCron(tc.expr, time.UTC)
		if err == nil || err.Error() != tc.want {
			t.Errorf("ParseCron(%q) = %v, want %s", tc.expr, err, tc.want)
		}
	}
}
