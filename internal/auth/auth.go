// Package auth makes and checks stratus's secrets: API tokens (random,
// stored only as hashes) and agent tokens (derived from an installation
// secret, so that a launch retried after a crash hands the instance the same
// token without the token ever being stored).
package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"fmt"
	"strings"
)

// NewToken returns a new random token with the given prefix ("stk" for API
// tokens), 160 bits of entropy.
func NewToken(prefix string) string {
	b := make([]byte, 20)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand: " + err.Error())
	}
	return prefix + "_" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}

// NewSecret returns 32 random bytes, hex encoded.
func NewSecret() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand: " + err.Error())
	}
	return hex.EncodeToString(b)
}

// Hash returns the SHA-256 of a token, hex encoded: what the store keeps.
func Hash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// AgentToken derives the agent token of a node's generation from the
// installation secret. The same inputs always give the same token.
func AgentToken(secret, node string, generation int) string {
	m := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(m, "agent\x00%s\x00%d", node, generation)
	return "sta_" + hex.EncodeToString(m.Sum(nil))
}

// ClientToken derives the idempotency token of a launch from the
// installation, the record and its generation: at most 64 ASCII characters,
// as EC2 requires.
func ClientToken(installation, record string, generation int) string {
	sum := sha256.Sum256([]byte(fmt.Sprintf("%s\x00%s\x00%d", installation, record, generation)))
	return "stratus-" + hex.EncodeToString(sum[:])[:48]
}

// BearerToken extracts the token from an Authorization header value.
func BearerToken(header string) (string, bool) {
	scheme, tok, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return "", false
	}
	return strings.TrimSpace(tok), true
}

// AgentTokenHash is the hash the store keeps of a node generation's agent
// token (AgentToken), by which the agent is recognised.
func AgentTokenHash(secret, node string, generation int) string {
	return Hash(AgentToken(secret, node, generation))
}
