package ipmisim

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1" // RAKP-HMAC-SHA1 and HMAC-SHA1-96 are what cipher suite 3 is made of
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"hash"
)

// Algorithm numbers (IPMI v2.0 tables 13-17, 13-18, 13-19).
const (
	authNone       = 0x00
	authHMACSHA1   = 0x01
	authHMACSHA256 = 0x03

	integrityNone          = 0x00
	integrityHMACSHA1_96   = 0x01
	integrityHMACSHA256128 = 0x04

	confNone      = 0x00
	confAESCBC128 = 0x01
)

// cipherSuite is one row of IPMI v2.0 table 22-20 (and its SHA-256
// additions): the algorithms a session uses.
type cipherSuite struct {
	id                    byte
	auth, integrity, conf byte
}

// cipherSuites are the suites the simulator offers, by ID.
var cipherSuites = map[byte]cipherSuite{
	0:  {0, authNone, integrityNone, confNone},
	3:  {3, authHMACSHA1, integrityHMACSHA1_96, confAESCBC128},
	17: {17, authHMACSHA256, integrityHMACSHA256128, confAESCBC128},
}

func (c cipherSuite) hash() func() hash.Hash {
	if c.auth == authHMACSHA256 {
		return sha256.New
	}
	return sha1.New
}

// mac is HMAC with the suite's authentication algorithm (RAKP and key
// derivation).
func (c cipherSuite) mac(key []byte, parts ...[]byte) []byte {
	if c.auth == authNone {
		return nil
	}
	h := hmac.New(c.hash(), key)
	for _, p := range parts {
		h.Write(p)
	}
	return h.Sum(nil)
}

// rakp4Len is how much of the RAKP 4 integrity check value is sent:
// HMAC-SHA1-96 (12 bytes) for RAKP-HMAC-SHA1, HMAC-SHA256-128 (16 bytes)
// for RAKP-HMAC-SHA256 (IPMI v2.0 section 13.28.4, as ipmitool checks it).
func (c cipherSuite) rakp4Len() int {
	switch c.auth {
	case authHMACSHA1:
		return 12
	case authHMACSHA256:
		return 16
	}
	return 0
}

// authCodeLen is the length of the AuthCode on every in-session packet.
func (c cipherSuite) authCodeLen() int {
	switch c.integrity {
	case integrityHMACSHA1_96:
		return 12
	case integrityHMACSHA256128:
		return 16
	}
	return 0
}

// le32 is a session ID as it goes into the RAKP HMACs: least significant
// byte first, like everything in IPMI.
func le32(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }

// kuid is the user's key as ipmitool and the spec use it: the password,
// zero-padded to 20 bytes. HMAC pads its key with zeros to the block size
// anyway, so the padding changes nothing; it is kept to read like section
// 13.31.
func kuid(password string) []byte {
	k := make([]byte, max(20, len(password)))
	copy(k, password)
	return k
}

// keyExchange holds what both sides of RAKP know once RAKP 1 arrived.
type keyExchange struct {
	suite      cipherSuite
	consoleSID uint32   // SIDm: the remote console's session ID
	bmcSID     uint32   // SIDc: the managed system's (our) session ID
	rm         [16]byte // the remote console's random number
	rc         [16]byte // the BMC's random number
	guid       [16]byte // GUIDc
	role       byte     // ROLEm: the whole requested-privilege byte of RAKP 1
	user       string
}

// rakp2 is RAKP 2's Key Exchange Authentication Code (section 13.21):
// HMAC_Kuid(SIDm, SIDc, Rm, Rc, GUIDc, ROLEm, ULENGTHm, UNAMEm).
func (k *keyExchange) rakp2(password string) []byte {
	return k.suite.mac(kuid(password), le32(k.consoleSID), le32(k.bmcSID), k.rm[:], k.rc[:], k.guid[:],
		[]byte{k.role, byte(len(k.user))}, []byte(k.user))
}

// rakp3 is what RAKP 3 must carry (section 13.22):
// HMAC_Kuid(Rc, SIDm, ROLEm, ULENGTHm, UNAMEm).
func (k *keyExchange) rakp3(password string) []byte {
	return k.suite.mac(kuid(password), k.rc[:], le32(k.consoleSID), []byte{k.role, byte(len(k.user))}, []byte(k.user))
}

// sik is the Session Integrity Key (section 13.31):
// HMAC_Kg(Rm, Rc, ROLEm, ULENGTHm, UNAMEm), with Kuid when no Kg is set.
func (k *keyExchange) sik(password string, kg []byte) []byte {
	key := kuid(password)
	if len(kg) > 0 {
		key = kg
	}
	return k.suite.mac(key, k.rm[:], k.rc[:], []byte{k.role, byte(len(k.user))}, []byte(k.user))
}

// rakp4 is RAKP 4's Integrity Check Value (section 13.23):
// HMAC_SIK(Rm, SIDc, GUIDc), truncated.
func (k *keyExchange) rakp4(sik []byte) []byte {
	m := k.suite.mac(sik, k.rm[:], le32(k.bmcSID), k.guid[:])
	return m[:k.suite.rakp4Len()]
}

// Constants of section 13.32: K1 = HMAC_SIK(20 × 0x01), K2 = HMAC_SIK(20 ×
// 0x02). The constants are 20 bytes for SHA-256 as well: that is what
// ipmitool (lanplus_crypt.c) and the BMCs it talks to use.
var (
	const1 = []byte{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}
	const2 = []byte{2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2}
)

// keys are a session's derived keys.
type keys struct {
	k1, k2 []byte
}

func deriveKeys(suite cipherSuite, sik []byte) keys {
	if suite.auth == authNone {
		return keys{}
	}
	return keys{k1: suite.mac(sik, const1), k2: suite.mac(sik, const2)}
}

// authCode is an in-session packet's AuthCode: HMAC_K1 over AuthType
// through Next Header, truncated (section 13.28.4).
func (s cipherSuite) authCode(k1, signed []byte) []byte {
	var h hash.Hash
	switch s.integrity {
	case integrityHMACSHA1_96:
		h = hmac.New(sha1.New, k1)
	case integrityHMACSHA256128:
		h = hmac.New(sha256.New, k1)
	default:
		return nil
	}
	h.Write(signed)
	return h.Sum(nil)[:s.authCodeLen()]
}

// encryptAES is AES-CBC-128 confidentiality (section 13.29): a random IV,
// then the payload padded with 1, 2, 3, … and the pad length, so the
// whole is a multiple of 16 bytes; the key is the first 16 bytes of K2.
func encryptAES(k2, plain []byte) []byte {
	return encryptAESWithIV(k2, plain, nil)
}

func encryptAESWithIV(k2, plain, iv []byte) []byte {
	padLen := (16 - (len(plain)+1)%16) % 16
	buf := make([]byte, 0, len(plain)+padLen+1)
	buf = append(buf, plain...)
	for i := range padLen {
		buf = append(buf, byte(i+1))
	}
	buf = append(buf, byte(padLen))
	out := make([]byte, 16+len(buf))
	if iv == nil {
		_, _ = rand.Read(out[:16]) // crypto/rand.Read never fails
	} else {
		copy(out, iv)
	}
	block, _ := aes.NewCipher(k2[:16]) // 16 bytes: no error
	cipher.NewCBCEncrypter(block, out[:16]).CryptBlocks(out[16:], buf)
	return out
}

var errBadCiphertext = errors.New("AES-CBC-128 payload is not an IV and whole blocks with a valid confidentiality trailer")

// decryptAES undoes encryptAES and checks the pad.
func decryptAES(k2, data []byte) ([]byte, error) {
	if len(k2) < 16 || len(data) < 32 || len(data)%16 != 0 {
		return nil, errBadCiphertext
	}
	block, _ := aes.NewCipher(k2[:16])
	plain := make([]byte, len(data)-16)
	cipher.NewCBCDecrypter(block, data[:16]).CryptBlocks(plain, data[16:])
	padLen := int(plain[len(plain)-1])
	if padLen > 15 || padLen+1 > len(plain) {
		return nil, errBadCiphertext
	}
	body := plain[:len(plain)-1-padLen]
	for i, x := range plain[len(body) : len(plain)-1] {
		if int(x) != i+1 {
			return nil, errBadCiphertext
		}
	}
	return body, nil
}
