package wire

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
)

// KLAP auth-hash versions. Version 1 (md5-based) is used by IOT devices that
// moved to KLAP (HS100 v4.1, HS110 v4 with newer firmware); version 2
// (sha1/sha256-based) by SMART devices on KLAP firmware (KP125M 1.2.x,
// P110 1.3.x, P100 1.4.x, EP40M). EP25 v2.6 and older Tapo firmware speak
// AES securePassthrough instead (their discovery answers say "AES").
const (
	KLAPv1 = 1
	KLAPv2 = 2
)

// AuthHash is the credential hash a KLAP device holds for its owner account.
func AuthHash(version int, username, password string) []byte {
	if version == KLAPv2 {
		u := sha1.Sum([]byte(username))
		p := sha1.Sum([]byte(password))
		h := sha256.Sum256(append(u[:], p[:]...))
		return h[:]
	}
	u := md5.Sum([]byte(username))
	p := md5.Sum([]byte(password))
	h := md5.Sum(append(u[:], p[:]...))
	return h[:]
}

func sha256Of(parts ...[]byte) []byte {
	h := sha256.New()
	for _, p := range parts {
		h.Write(p)
	}
	return h.Sum(nil)
}

// Handshake1Hash is what the device returns after its remote seed in
// handshake1, proving it knows authHash.
func Handshake1Hash(version int, local, remote, authHash []byte) []byte {
	if version == KLAPv2 {
		return sha256Of(local, remote, authHash)
	}
	return sha256Of(local, authHash)
}

// Handshake2Hash is what the client sends in handshake2, proving it knows
// authHash.
func Handshake2Hash(version int, local, remote, authHash []byte) []byte {
	if version == KLAPv2 {
		return sha256Of(remote, local, authHash)
	}
	return sha256Of(remote, authHash)
}

// Session is an established KLAP encryption session. Requests carry a
// sequence number that is both a URL parameter and the last four bytes of the
// AES-CBC IV; each payload is prefixed with a SHA-256 signature.
type Session struct {
	key [16]byte
	iv  [12]byte
	sig [28]byte
	seq int32
}

// NewSession derives the session keys from the two seeds and the auth hash.
func NewSession(local, remote, authHash []byte) *Session {
	s := &Session{}
	copy(s.key[:], sha256Of([]byte("lsk"), local, remote, authHash)[:16])
	iv := sha256Of([]byte("iv"), local, remote, authHash)
	copy(s.iv[:], iv[:12])
	s.seq = int32(binary.BigEndian.Uint32(iv[28:32]))
	copy(s.sig[:], sha256Of([]byte("ldk"), local, remote, authHash)[:28])
	return s
}

// Seq is the sequence number of the last request encrypted.
func (s *Session) Seq() int32 { return s.seq }

func (s *Session) ivFor(seq int32) []byte {
	iv := make([]byte, 16)
	copy(iv, s.iv[:])
	binary.BigEndian.PutUint32(iv[12:], uint32(seq))
	return iv
}

func (s *Session) signature(seq int32, ciphertext []byte) []byte {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], uint32(seq))
	return sha256Of(s.sig[:], b[:], ciphertext)
}

// Next advances the sequence number and encrypts msg for it, returning the
// request body (signature then ciphertext) and the sequence number to send.
func (s *Session) Next(msg []byte) ([]byte, int32) {
	s.seq++
	return s.Seal(s.seq, msg), s.seq
}

// Seal encrypts and signs msg for sequence number seq. The device answers a
// request with the same sequence number, so the simulator seals its
// responses with this too.
func (s *Session) Seal(seq int32, msg []byte) []byte {
	block, _ := aes.NewCipher(s.key[:])
	pad := aes.BlockSize - len(msg)%aes.BlockSize
	plain := make([]byte, len(msg)+pad)
	copy(plain, msg)
	for i := len(msg); i < len(plain); i++ {
		plain[i] = byte(pad)
	}
	ct := make([]byte, len(plain))
	cipher.NewCBCEncrypter(block, s.ivFor(seq)).CryptBlocks(ct, plain)
	return append(s.signature(seq, ct), ct...)
}

// ErrBadSignature means a KLAP payload was not signed with this session's key.
var ErrBadSignature = errors.New("KLAP signature mismatch")

// Open decrypts a KLAP payload for sequence number seq. With verify it first
// checks the signature; the client does not, since python-kasa, which has met
// many firmwares, never relies on the response signature.
func (s *Session) Open(seq int32, body []byte, verify bool) ([]byte, error) {
	if len(body) < 32 {
		return nil, fmt.Errorf("KLAP payload of %d bytes is shorter than its 32-byte signature", len(body))
	}
	sig, ct := body[:32], body[32:]
	if len(ct) == 0 || len(ct)%aes.BlockSize != 0 {
		return nil, fmt.Errorf("KLAP ciphertext of %d bytes is not a whole number of AES blocks", len(ct))
	}
	if verify && subtle.ConstantTimeCompare(sig, s.signature(seq, ct)) != 1 {
		return nil, ErrBadSignature
	}
	block, _ := aes.NewCipher(s.key[:])
	plain := make([]byte, len(ct))
	cipher.NewCBCDecrypter(block, s.ivFor(seq)).CryptBlocks(plain, ct)
	pad := int(plain[len(plain)-1])
	if pad == 0 || pad > aes.BlockSize || pad > len(plain) ||
		!bytes.Equal(plain[len(plain)-pad:], bytes.Repeat([]byte{byte(pad)}, pad)) {
		return nil, errors.New("KLAP payload has bad PKCS#7 padding (wrong session key?)")
	}
	return plain[:len(plain)-pad], nil
}
