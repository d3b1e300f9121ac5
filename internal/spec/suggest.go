package spec

import (
	"strings"
	"unicode/utf8"
)

// closest returns the candidate nearest to s by edit distance, ignoring
// case, or "" when none is near enough to be a likely typo: at most a
// quarter of the length of s (at least 1, at most 3) edits away.
func closest(s string, candidates []string) string {
	n := utf8.RuneCountInString(s)
	if n == 0 || n > 64 {
		return ""
	}
	limit := min(max(n/4, 1), 3)
	best, bestDist := "", limit+1
	for _, c := range candidates {
		if d := distance(strings.ToLower(s), strings.ToLower(c)); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

// nearest returns the candidates closest to s, if they are within two
// edits: up to three, all at the same distance, in the order given.
func nearest(s string, candidates []string) []string {
	if utf8.RuneCountInString(s) > 64 {
		return nil
	}
	var out []string
	best := 3
	for _, c := range candidates {
		switch d := distance(strings.ToLower(s), strings.ToLower(c)); {
		case d < best:
			best, out = d, []string{c}
		case d == best && len(out) < 3:
			out = append(out, c)
		}
	}
	return out
}

// distance is the Levenshtein distance between a and b, in runes.
func distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
