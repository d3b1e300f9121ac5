package auth

import (
	"strings"
	"testing"
)

func TestAgentToken_DeterministicAndDistinct(t *testing.T) {
	a := AgentToken("s1", "n-1", 1)
	if a != AgentToken("s1", "n-1", 1) {
		t.Fatal("same inputs gave different tokens")
	}
	for _, other := range []string{AgentToken("s2", "n-1", 1), AgentToken("s1", "n-2", 1), AgentToken("s1", "n-1", 2)} {
		if other == a {
			t.Fatalf("different inputs gave the same token %s", a)
		}
	}
}

func TestClientToken_FitsEC2Limit(t *testing.T) {
	tok := ClientToken(strings.Repeat("i", 100), strings.Repeat("n", 100), 99)
	if len(tok) > 64 {
		t.Fatalf("client token %q is %d characters, EC2 allows 64", tok, len(tok))
	}
	if tok == ClientToken(strings.Repeat("i", 100), strings.Repeat("n", 100), 100) {
		t.Fatal("generation does not change the token")
	}
}

func TestNewToken_RandomWithPrefix(t *testing.T) {
	a, b := NewToken("stk"), NewToken("stk")
	if a == b || !strings.HasPrefix(a, "stk_") {
		t.Fatalf("tokens %q %q", a, b)
	}
}

func TestBearerToken(t *testing.T) {
	for _, tc := range []struct {
		header string
		want   string
		ok     bool
	}{
		{"Bearer abc", "abc", true},
		{"bearer abc", "abc", true},
		{"Basic abc", "", false},
		{"Bearer ", "", false},
		{"", "", false},
	} {
		got, ok := BearerToken(tc.header)
		if got != tc.want || ok != tc.ok {
			t.Errorf("BearerToken(%q) = %q, %v; want %q, %v", tc.header, got, ok, tc.want, tc.ok)
		}
	}
}
