// Package cost holds stratus's money type (integer micro-dollars), the
// instance type catalog with its prices, and billing models.
package cost

import (
	"fmt"
	"strconv"
	"strings"
)

// Micros is an amount of money in micro-dollars (1e-6 USD). All prices and
// costs in stratus are Micros, so sums are exact.
type Micros int64

// MicrosPerDollar is the number of micro-dollars in a dollar.
const MicrosPerDollar = 1_000_000

// String formats m as dollars with at least two and at most six decimals,
// with no trailing zeros past the second: 0.133, 1.50, 0.000001.
func (m Micros) String() string {
	neg := m < 0
	if neg {
		m = -m
	}
	s := fmt.Sprintf("%d.%06d", int64(m)/MicrosPerDollar, int64(m)%MicrosPerDollar)
	for strings.HasSuffix(s, "0") && len(s)-strings.IndexByte(s, '.') > 3 {
		s = s[:len(s)-1]
	}
	if neg {
		s = "-" + s
	}
	return s
}

// ParseDollars parses a decimal dollar amount such as "0.03", "1" or
// "12.345678" into Micros. It accepts no sign, exponent or more than six
// decimals, so every accepted value is exact.
func ParseDollars(s string) (Micros, error) {
	if s == "" {
		return 0, fmt.Errorf("empty amount")
	}
	whole, frac, hasDot := strings.Cut(s, ".")
	if whole == "" && (!hasDot || frac == "") {
		return 0, fmt.Errorf("%q is not a dollar amount", s)
	}
	if hasDot && frac == "" {
		return 0, fmt.Errorf("%q is not a dollar amount: no digits after the point", s)
	}
	for _, part := range []string{whole, frac} {
		for _, r := range part {
			if r < '0' || r > '9' {
				return 0, fmt.Errorf("%q is not a dollar amount: use digits and one decimal point, like 0.03", s)
			}
		}
	}
	if len(frac) > 6 {
		return 0, fmt.Errorf("%q has more than six decimals", s)
	}
	if len(whole) > 9 {
		return 0, fmt.Errorf("%q is too large", s)
	}
	var w int64
	if whole != "" {
		var err error
		w, err = strconv.ParseInt(whole, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%q is not a dollar amount", s)
		}
	}
	f := int64(0)
	if frac != "" {
		f, _ = strconv.ParseInt((frac + "000000")[:6], 10, 64)
	}
	return Micros(w*MicrosPerDollar + f), nil
}
