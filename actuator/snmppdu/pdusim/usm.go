package pdusim

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/des" //nolint:gosec // RFC 3414 section 8: CBC-DES is what SNMPv3 privacy offers besides AES
	"crypto/hmac"
	"crypto/md5"  //nolint:gosec // RFC 3414 section 6: HMAC-MD5-96
	"crypto/sha1" //nolint:gosec // RFC 3414 section 7: HMAC-SHA-96
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"strings"

	"github.com/gosnmp/gosnmp"
)

// User is an SNMPv3 user of the User-based Security Model (RFC 3414). As
// an APC card's v3 user profiles, every user may read and write; a user
// with an authentication protocol must use at least authNoPriv, one with
// a privacy protocol authPriv.
type User struct {
	Name string
	// AuthProtocol is MD5, SHA (default when AuthPassword is set), SHA-224
	// or SHA-256 (RFC 7860); empty with no AuthPassword is noAuthNoPriv.
	AuthProtocol, AuthPassword string
	// PrivProtocol is DES or AES (AES-128, default when PrivPassword is
	// set); privacy needs authentication.
	PrivProtocol, PrivPassword string
}

// authAlgo is an authentication protocol: its hash and MAC length.
type authAlgo struct {
	name   string
	hash   func() hash.Hash
	macLen int
	gosnmp gosnmp.SnmpV3AuthProtocol
}

var authAlgos = []authAlgo{
	{"MD5", md5.New, 12, gosnmp.MD5},              // usmHMACMD5AuthProtocol, RFC 3414 6
	{"SHA", sha1.New, 12, gosnmp.SHA},             // usmHMACSHAAuthProtocol, RFC 3414 7
	{"SHA-224", sha256.New224, 16, gosnmp.SHA224}, // usmHMAC128SHA224AuthProtocol, RFC 7860
	{"SHA-256", sha256.New, 24, gosnmp.SHA256},    // usmHMAC192SHA256AuthProtocol, RFC 7860
}

// privDES and privAES are the privacy protocols.
const (
	privNone = iota
	privDES  // usmDESPrivProtocol, RFC 3414 8
	privAES  // usmAesCfb128Protocol, RFC 3826
)

// usmUser is a User with its keys localised to the agent's engine ID.
type usmUser struct {
	name    string
	auth    *authAlgo // nil: noAuth
	priv    int
	authKey []byte
	privKey []byte
}

// level is the user's security level as msgFlags bits: 0, 1 (auth) or 3.
func (u *usmUser) level() byte {
	switch {
	case u.priv != privNone:
		return 3
	case u.auth != nil:
		return 1
	}
	return 0
}

// newUSMUser checks a User and localises its keys to engineID.
func newUSMUser(u User, engineID []byte) (*usmUser, error) {
	if u.Name == "" || len(u.Name) > 32 {
		return nil, fmt.Errorf("SNMPv3 user %q: a user name has 1 to 32 characters (RFC 3414 usmUserName)", u.Name)
	}
	out := &usmUser{name: u.Name}
	if u.AuthPassword == "" && u.AuthProtocol != "" {
		return nil, fmt.Errorf("SNMPv3 user %q: auth protocol %s needs an auth password", u.Name, u.AuthProtocol)
	}
	if u.AuthPassword != "" {
		name := strings.ToUpper(u.AuthProtocol)
		if name == "" {
			name = "SHA"
		}
		for i := range authAlgos {
			if authAlgos[i].name == name || strings.ReplaceAll(authAlgos[i].name, "-", "") == name {
				out.auth = &authAlgos[i]
			}
		}
		if out.auth == nil {
			return nil, fmt.Errorf("SNMPv3 user %q: auth protocol %q: use MD5, SHA, SHA-224 or SHA-256", u.Name, u.AuthProtocol)
		}
		if len(u.AuthPassword) < 8 {
			return nil, fmt.Errorf("SNMPv3 user %q: the auth password has %d characters; RFC 3414 (11.2) and Net-SNMP want at least 8", u.Name, len(u.AuthPassword))
		}
		out.authKey = localizedKey(out.auth.hash, u.AuthPassword, engineID)
	}
	if u.PrivPassword == "" && u.PrivProtocol != "" {
		return nil, fmt.Errorf("SNMPv3 user %q: priv protocol %s needs a priv password", u.Name, u.PrivProtocol)
	}
	if u.PrivPassword != "" {
		if out.auth == nil {
			return nil, fmt.Errorf("SNMPv3 user %q: privacy needs authentication too (RFC 3414 has no noAuthPriv): set an auth password", u.Name)
		}
		switch strings.ToUpper(u.PrivProtocol) {
		case "DES":
			out.priv = privDES
		case "", "AES", "AES128", "AES-128":
			out.priv = privAES
		default:
			return nil, fmt.Errorf("SNMPv3 user %q: priv protocol %q: use DES or AES", u.Name, u.PrivProtocol)
		}
		if len(u.PrivPassword) < 8 {
			return nil, fmt.Errorf("SNMPv3 user %q: the priv password has %d characters; RFC 3414 (11.2) and Net-SNMP want at least 8", u.Name, len(u.PrivPassword))
		}
		// RFC 3414 8.1.1.1 and RFC 3826 3.1.2.1: the privacy key is
		// localised with the user's authentication hash; DES takes 16
		// octets (key and pre-IV), AES-128 the first 16.
		out.privKey = localizedKey(out.auth.hash, u.PrivPassword, engineID)[:16]
	}
	return out, nil
}

// localizedKey is RFC 3414 A.2: the password stretched over 1 MiB into Ku,
// then Kul = H(Ku || engineID || Ku).
func localizedKey(newHash func() hash.Hash, password string, engineID []byte) []byte {
	h := newHash()
	const total = 1 << 20
	buf := make([]byte, 64)
	pw := []byte(password)
	for i, j := 0, 0; i < total; i += len(buf) {
		for k := range buf {
			buf[k] = pw[j%len(pw)]
			j++
		}
		h.Write(buf)
	}
	ku := h.Sum(nil)
	h.Reset()
	h.Write(ku)
	h.Write(engineID)
	h.Write(ku)
	return h.Sum(nil)
}

// digest is the message's MAC (RFC 3414 6.3.1, 7.3.1, RFC 7860 4.2.1):
// the HMAC of the whole message with the authentication parameters set to
// zeros, truncated to the protocol's length.
func (u *usmUser) digest(msg []byte, authOff int) []byte {
	blank := append([]byte(nil), msg...)
	clear(blank[authOff : authOff+u.auth.macLen])
	m := hmac.New(u.auth.hash, u.authKey)
	m.Write(blank)
	return m.Sum(nil)[:u.auth.macLen]
}

// authentic says whether the MAC in the message is right.
func (u *usmUser) authentic(msg []byte, authOff int, mac []byte) bool {
	if len(mac) != u.auth.macLen {
		return false
	}
	return subtle.ConstantTimeCompare(u.digest(msg, authOff), mac) == 1
}

var errDecryption = errors.New("decryption error")

// decrypt is RFC 3414 8.3.2 (DES) and RFC 3826 3.3.2 (AES): an error is a
// decryptionError; a wrong key is not one, it decrypts to garbage.
func (u *usmUser) decrypt(ciphertext, salt []byte, boots, engineTime int) ([]byte, error) {
	if len(salt) != 8 {
		return nil, fmt.Errorf("%w: msgPrivacyParameters has %d octets, want 8", errDecryption, len(salt))
	}
	switch u.priv {
	case privDES:
		if len(ciphertext)%des.BlockSize != 0 {
			return nil, fmt.Errorf("%w: %d octets of DES ciphertext is not a multiple of 8", errDecryption, len(ciphertext))
		}
		block, _ := des.NewCipher(u.privKey[:8]) //nolint:gosec // 8-octet key: cannot fail
		iv := make([]byte, 8)
		for i := range iv {
			iv[i] = u.privKey[8+i] ^ salt[i]
		}
		out := make([]byte, len(ciphertext))
		cipher.NewCBCDecrypter(block, iv).CryptBlocks(out, ciphertext)
		return out, nil
	case privAES:
		block, _ := aes.NewCipher(u.privKey[:16]) // 16-octet key: cannot fail
		iv := make([]byte, 16)
		binary.BigEndian.PutUint32(iv, uint32(boots))
		binary.BigEndian.PutUint32(iv[4:], uint32(engineTime))
		copy(iv[8:], salt)
		out := make([]byte, len(ciphertext))
		cipher.NewCFBDecrypter(block, iv).XORKeyStream(out, ciphertext) //nolint:staticcheck // RFC 3826 specifies CFB-128
		return out, nil
	}
	return nil, fmt.Errorf("%w: user %q has no privacy protocol", errDecryption, u.name)
}

// securityParameters are what gosnmp needs to encode, encrypt and
// authenticate an answer for the user, keys already localised.
func (u *usmUser) securityParameters(engineID []byte, boots, engineTime int, salt []byte, level byte) *gosnmp.UsmSecurityParameters {
	sp := &gosnmp.UsmSecurityParameters{
		AuthoritativeEngineID:    string(engineID),
		AuthoritativeEngineBoots: uint32(boots),
		AuthoritativeEngineTime:  uint32(engineTime),
		UserName:                 u.name,
		AuthenticationProtocol:   gosnmp.NoAuth,
		PrivacyProtocol:          gosnmp.NoPriv,
		Logger:                   gosnmp.NewLogger(nil),
	}
	if level&1 != 0 {
		sp.AuthenticationProtocol, sp.SecretKey = u.auth.gosnmp, u.authKey
	}
	if level&2 != 0 {
		sp.PrivacyParameters, sp.PrivacyKey = salt, u.privKey
		sp.PrivacyProtocol = gosnmp.AES
		if u.priv == privDES {
			sp.PrivacyProtocol = gosnmp.DES
		}
	}
	return sp
}

// describe says the user's security level and protocols.
func (u *usmUser) describe() string {
	switch {
	case u.priv == privDES:
		return "authPriv " + u.auth.name + "/DES"
	case u.priv == privAES:
		return "authPriv " + u.auth.name + "/AES"
	case u.auth != nil:
		return "authNoPriv " + u.auth.name
	}
	return "noAuthNoPriv"
}
