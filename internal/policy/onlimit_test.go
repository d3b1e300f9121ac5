package policy

import (
	"testing"
	"time"
)

func TestParseOnLimitAndWarnBefore(t *testing.T) {
	p, err := Parse([]byte("limits:\n  ann:\n    max_lifetime: 4h\n    warn_before: 30m\n    on_limit: delete\n  bob:\n    max_lifetime: 24h\n  carol:\n    max_lifetime: 20m\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		user   string
		warn   time.Duration
		action string
	}{
		{"ann", 30 * time.Minute, OnLimitDelete},
		{"bob", time.Hour, OnLimitStop},         // the default
		{"carol", 2 * time.Minute, OnLimitStop}, // a tenth of a short lifetime
	} {
		l, ok := p.For(tc.user)
		if !ok {
			t.Fatalf("no limits for %s", tc.user)
		}
		if got := l.Warning(); got != tc.warn {
			t.Errorf("%s: Warning() = %s, want %s", tc.user, got, tc.warn)
		}
		if got := l.Action(); got != tc.action {
			t.Errorf("%s: Action() = %s, want %s", tc.user, got, tc.action)
		}
	}
}

func TestParseOnLimitErrors(t *testing.T) {
	testParseErrors(t, []parseErrorCase{
		{"on_limit word", "limits:\n  ann:\n    on_limit: pause\n", "limits.ann.on_limit", 3, `must be stop or delete, got "pause"`},
		{"on_limit list", "limits:\n  ann:\n    on_limit: [stop]\n", "limits.ann.on_limit", 3, "must be stop or delete"},
		{"warn without lifetime", "limits:\n  ann:\n    warn_before: 10m\n", "limits.ann.warn_before", 3, "applies only with max_lifetime"},
		{"warn too long", "limits:\n  ann:\n    max_lifetime: 1h\n    warn_before: 1h\n", "limits.ann.warn_before", 4, "not shorter than max_lifetime"},
		{"warn not a duration", "limits:\n  ann:\n    max_lifetime: 1h\n    warn_before: soon\n", "limits.ann.warn_before", 4, "duration"},
	})
}
