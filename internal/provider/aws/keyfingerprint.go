package aws

import (
	"crypto/md5"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/stratus-cloud/stratus/internal/provider"
	"golang.org/x/crypto/ssh"
)

var _ provider.KeyFingerprinter = (*Provider)(nil)

// KeyPairFingerprint implements provider.KeyFingerprinter: the fingerprint
// EC2 reports for a key pair imported from publicKey (an OpenSSH public
// key line). For an ssh-ed25519 key it is the padded base64 of the SHA-256
// of the key blob; for an ssh-rsa key the colon-separated hex MD5 of the
// key's DER form (PKIX SubjectPublicKeyInfo), which is not what
// `ssh-keygen -l -E md5` prints. EC2 imports no other key type.
func (p *Provider) KeyPairFingerprint(publicKey []byte) (string, error) {
	return KeyPairFingerprint(publicKey)
}

// KeyPairFingerprint is (*Provider).KeyPairFingerprint.
func KeyPairFingerprint(publicKey []byte) (string, error) {
	bad := func(reason string) error {
		return &provider.InvalidError{Field: "public_key", Reason: reason + "; give an OpenSSH ssh-ed25519 or ssh-rsa public key (a .pub file)"}
	}
	key, _, _, _, err := ssh.ParseAuthorizedKey(publicKey)
	if err != nil {
		return "", bad("not an ssh public key (" + err.Error() + ")")
	}
	switch key.Type() {
	case ssh.KeyAlgoED25519:
		sum := sha256.Sum256(key.Marshal())
		return base64.StdEncoding.EncodeToString(sum[:]), nil
	case ssh.KeyAlgoRSA:
		ck, ok := key.(ssh.CryptoPublicKey)
		if !ok {
			return "", bad("malformed ssh-rsa key")
		}
		der, err := x509.MarshalPKIXPublicKey(ck.CryptoPublicKey())
		if err != nil {
			return "", bad("malformed ssh-rsa key: " + err.Error())
		}
		sum := md5.Sum(der)
		hexes := make([]string, len(sum))
		for i, b := range sum {
			hexes[i] = fmt.Sprintf("%02x", b)
		}
		return strings.Join(hexes, ":"), nil
	}
	return "", bad(fmt.Sprintf("EC2 does not import %s keys", key.Type()))
}
