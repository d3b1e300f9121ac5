package provider

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"
)

// Checks every Resources implementation applies the same way.

// KeyFingerprint returns the fingerprint of an ssh public key in
// authorized_keys format ("TYPE BASE64 [COMMENT]"): "SHA256:" and the
// unpadded base64 of the SHA-256 of the decoded blob. An *InvalidError says
// what is wrong with a malformed key.
func KeyFingerprint(publicKey []byte) (string, error) {
	blob, err := parsePublicKey(publicKey)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(blob)
	return "SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:]), nil
}

// parsePublicKey returns the key blob of an authorized_keys line, checking
// that the blob starts with the key type the line names.
func parsePublicKey(publicKey []byte) ([]byte, error) {
	bad := func(reason string) error {
		return &InvalidError{Field: "public_key", Reason: reason + `; give an OpenSSH public key line such as "ssh-ed25519 AAAA... comment" (a .pub file)`}
	}
	fields := strings.Fields(string(bytes.TrimSpace(publicKey)))
	if len(fields) < 2 {
		return nil, bad("not an ssh public key")
	}
	typ := fields[0]
	blob, err := base64.StdEncoding.DecodeString(fields[1])
	if err != nil {
		return nil, bad("the key's second field is not base64")
	}
	if len(blob) < 4 {
		return nil, bad("the key is too short")
	}
	n := binary.BigEndian.Uint32(blob)
	if uint64(n) > uint64(len(blob)-4) || string(blob[4:4+n]) != typ {
		return nil, bad(fmt.Sprintf("the key's data does not match its type %q", typ))
	}
	if int(4+n) == len(blob) {
		return nil, bad("the key has no key material")
	}
	return blob, nil
}

// CheckRule reports whether a rule is well formed, as an *InvalidError
// naming what is wrong: protocol tcp, udp, icmp or -1; ports 0–65535 with
// from ≤ to for tcp and udp (-1 is allowed for icmp and -1); a CIDR that is
// a network address.
func CheckRule(r Rule) error {
	bad := func(reason string) error {
		return &InvalidError{Field: "rule", Reason: fmt.Sprintf("%s %d-%d %s: %s", r.Protocol, r.FromPort, r.ToPort, r.CIDR, reason)}
	}
	switch r.Protocol {
	case "tcp", "udp":
		if r.FromPort < 0 || r.ToPort > 65535 || r.FromPort > r.ToPort {
			return bad("ports must be 0–65535 with from ≤ to")
		}
	case "icmp", "-1":
		if r.FromPort < -1 || r.ToPort < -1 || r.FromPort > 65535 || r.ToPort > 65535 {
			return bad("ports must be -1–65535")
		}
	default:
		return bad("protocol must be tcp, udp, icmp or -1 (all)")
	}
	pfx, err := netip.ParsePrefix(r.CIDR)
	if err != nil {
		return bad("not a CIDR such as 0.0.0.0/0")
	}
	if pfx.Masked() != pfx {
		return bad(fmt.Sprintf("not a network address; did you mean %s?", pfx.Masked()))
	}
	return nil
}

// CompareRules orders rules by protocol, ports and CIDR (for slices.SortFunc).
func CompareRules(a, b Rule) int {
	if c := strings.Compare(a.Protocol, b.Protocol); c != 0 {
		return c
	}
	if a.FromPort != b.FromPort {
		return a.FromPort - b.FromPort
	}
	if a.ToPort != b.ToPort {
		return a.ToPort - b.ToPort
	}
	return strings.Compare(a.CIDR, b.CIDR)
}
