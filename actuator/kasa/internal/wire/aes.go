package wire

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
)

// The AES "securePassthrough" transport of older Tapo and Kasa SMART
// firmware (P100 ≤1.3.x, P110 EU 1.0–1.2, KP125M 1.1.x, EP25 v2.6), as
// python-kasa's kasa/transports/aestransport.py speaks it: the client sends
// an RSA-1024 public key in "handshake"; the device answers with a 32-byte
// AES key and IV encrypted to it (PKCS#1 v1.5); every later request is
// {"method":"securePassthrough","params":{"request":base64(AES-128-CBC,
// PKCS#7)}} and the answer's result.response is encrypted the same way.

// AESKeyBits is the RSA key size python-kasa sends in the handshake.
const AESKeyBits = 1024

// ErrAESDecode means a securePassthrough payload does not decrypt.
var ErrAESDecode = errors.New("securePassthrough payload does not decrypt")

// AESSession is the AES-128-CBC cipher of one AES-transport session. The IV
// is the same for every message, as the firmware does it.
type AESSession struct {
	block cipher.Block
	iv    []byte
}

// NewAESSession builds the session from the 32 bytes the device sent:
// key (16) then IV (16).
func NewAESSession(keyIV []byte) (*AESSession, error) {
	if len(keyIV) != 32 {
		return nil, fmt.Errorf("%w: handshake key is %d bytes, want 32", ErrAESDecode, len(keyIV))
	}
	block, err := aes.NewCipher(keyIV[:16])
	if err != nil {
		return nil, err
	}
	return &AESSession{block: block, iv: append([]byte(nil), keyIV[16:]...)}, nil
}

// Encrypt pads plain with PKCS#7, encrypts it and returns it in base64.
func (s *AESSession) Encrypt(plain []byte) string {
	n := aes.BlockSize - len(plain)%aes.BlockSize
	buf := make([]byte, len(plain)+n)
	copy(buf, plain)
	for i := len(plain); i < len(buf); i++ {
		buf[i] = byte(n)
	}
	cipher.NewCBCEncrypter(s.block, s.iv).CryptBlocks(buf, buf)
	return base64.StdEncoding.EncodeToString(buf)
}

// Decrypt undoes Encrypt. Anything that is not base64 of whole blocks with
// valid padding is ErrAESDecode.
func (s *AESSession) Decrypt(b64 string) ([]byte, error) {
	buf, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrAESDecode, err)
	}
	if len(buf) == 0 || len(buf)%aes.BlockSize != 0 {
		return nil, fmt.Errorf("%w: %d bytes is not whole AES blocks", ErrAESDecode, len(buf))
	}
	cipher.NewCBCDecrypter(s.block, s.iv).CryptBlocks(buf, buf)
	n := int(buf[len(buf)-1])
	if n == 0 || n > aes.BlockSize {
		return nil, fmt.Errorf("%w: bad padding", ErrAESDecode)
	}
	for _, b := range buf[len(buf)-n:] {
		if int(b) != n {
			return nil, fmt.Errorf("%w: bad padding", ErrAESDecode)
		}
	}
	return buf[:len(buf)-n], nil
}

// AESPublicKeyPEM renders key as the handshake sends it: the DER in one
// base64 line between PEM armour, exactly as python-kasa builds it.
func AESPublicKeyPEM(key *rsa.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(key)
	if err != nil {
		return "", err
	}
	return "-----BEGIN PUBLIC KEY-----\n" + base64.StdEncoding.EncodeToString(der) + "\n-----END PUBLIC KEY-----\n", nil
}

// ParseAESPublicKey reads the handshake's key (the device side).
func ParseAESPublicKey(s string) (*rsa.PublicKey, error) {
	blk, _ := pem.Decode([]byte(s))
	if blk == nil {
		return nil, errors.New("handshake key is not PEM")
	}
	pub, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		return nil, err
	}
	rk, ok := pub.(*rsa.PublicKey)
	if !ok {
		return nil, errors.New("handshake key is not RSA")
	}
	return rk, nil
}

// SealAESHandshakeKey is the device's answer to a handshake: the 32-byte
// key and IV encrypted to the client's key, in base64.
func SealAESHandshakeKey(pub *rsa.PublicKey, keyIV []byte) (string, error) {
	ct, err := rsa.EncryptPKCS1v15(rand.Reader, pub, keyIV) //nolint:staticcheck // the firmware's padding
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(ct), nil
}

// OpenAESHandshakeKey decrypts the device's handshake answer.
func OpenAESHandshakeKey(priv *rsa.PrivateKey, b64 string) ([]byte, error) {
	ct, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, fmt.Errorf("%w: handshake key: %v", ErrAESDecode, err)
	}
	keyIV, err := rsa.DecryptPKCS1v15(nil, priv, ct) //nolint:staticcheck // the firmware's padding
	if err != nil {
		return nil, fmt.Errorf("%w: handshake key: %v", ErrAESDecode, err)
	}
	return keyIV, nil
}

func sha1Hex(s string) string {
	h := sha1.Sum([]byte(s))
	return hex.EncodeToString(h[:])
}

// AESLoginParams are login_device's params, as python-kasa's
// AesTransport._get_login_params builds them: username is
// base64(sha1-hex(username)); login version 2 sends password2 =
// base64(sha1-hex(password)), version 1 password = base64(password).
func AESLoginParams(version int, username, password string) map[string]string {
	un := base64.StdEncoding.EncodeToString([]byte(sha1Hex(username)))
	if version == 2 {
		return map[string]string{"username": un, "password2": base64.StdEncoding.EncodeToString([]byte(sha1Hex(password)))}
	}
	return map[string]string{"username": un, "password": base64.StdEncoding.EncodeToString([]byte(password))}
}

// AESEnvelope is the outer JSON of every AES-transport exchange.
type AESEnvelope struct {
	Method string          `json:"method,omitempty"`
	Params json.RawMessage `json:"params,omitempty"`
	Code   *int            `json:"error_code,omitempty"`
	Result json.RawMessage `json:"result,omitempty"`
}

// OpenAESResponse reads a securePassthrough answer: its outer error_code
// (non-zero: no payload) and the decrypted inner JSON. Some firmware puts
// plain JSON in result.response; python-kasa accepts that, and so do we.
func OpenAESResponse(s *AESSession, body []byte) (code int, inner []byte, err error) {
	var env AESEnvelope
	if err := json.Unmarshal(body, &env); err != nil {
		return 0, nil, fmt.Errorf("securePassthrough answer is not JSON: %w", err)
	}
	if env.Code == nil {
		return 0, nil, errors.New("securePassthrough answer has no error_code")
	}
	if *env.Code != 0 {
		return *env.Code, nil, nil
	}
	var res struct {
		Response *string `json:"response"`
	}
	if err := json.Unmarshal(env.Result, &res); err != nil || res.Response == nil {
		return 0, nil, errors.New("securePassthrough answer has no result.response")
	}
	inner, derr := s.Decrypt(*res.Response)
	if derr == nil && json.Valid(inner) {
		return 0, inner, nil
	}
	if json.Valid([]byte(*res.Response)) {
		return 0, []byte(*res.Response), nil
	}
	if derr == nil {
		derr = fmt.Errorf("%w: decrypted answer is not JSON", ErrAESDecode)
	}
	return 0, nil, derr
}
