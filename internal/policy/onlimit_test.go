package policy

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/internal/spec"
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
	for _, tc := range []struct {
		name, doc, field string
		line             int
		msg              string
	}{
		{"on_limit word", "limits:\n  ann:\n    on_limit: pause\n", "limits.ann.on_limit", 3, `must be stop or delete, got "pause"`},
		{"on_limit list", "limits:\n  ann:\n    on_limit: [stop]\n", "limits.ann.on_limit", 3, "must be stop or delete"},
		{"warn without lifetime", "limits:\n  ann:\n    warn_before: 10m\n", "limits.ann.warn_before", 3, "applies only with max_lifetime"},
		{"warn too long", "limits:\n  ann:\n    max_lifetime: 1h\n    warn_before: 1h\n", "limits.ann.warn_before", 4, "not shorter than max_lifetime"},
		{"warn not a duration", "limits:\n  ann:\n    max_lifetime: 1h\n    warn_before: soon\n", "limits.ann.warn_before", 4, "duration"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.doc))
			var es spec.Errors
			if !errors.As(err, &es) || len(es) == 0 {
				t.Fatalf("got %v, want spec.Errors", err)
			}
			e := es[0]
			if e.Field != tc.field || e.Line != tc.line || !strings.Contains(e.Message, tc.msg) {
				t.Errorf("got %q (field %q line %d), want field %q line %d containing %q", e.Error(), e.Field, e.Line, tc.field, tc.line, tc.msg)
			}
		})
	}
}
