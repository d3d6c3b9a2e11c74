package ipmisim

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func to16(t *testing.T, s string) (a [16]byte) {
	t.Helper()
	copy(a[:], unhex(t, s))
	return a
}

// Vectors from `ipmitool -vvvv -I lanplus -U operator -P s3cret -C N` (Debian
// ipmitool 1.8.19) opening sessions with this simulator: ipmitool printed
// its inputs and what it computed itself (the RAKP 2 code it expected, the
// RAKP 3 code it sent, SIK, K1, K2, the RAKP 4 value it expected, the
// AuthCode and AES payload of its Set Session Privilege Level request). Our
// functions must compute the same from the same inputs.
var ipmitoolSessions = []struct {
	suite                                  byte
	bmcSID                                 uint32
	rm, rc, guid                           string
	rakp2, rakp3, sik, k1, k2, rakp4Prefix string
}{
	{
		suite: 3, bmcSID: 0x018fac76,
		rm:          "2a 0f 4c c7 24 5a 84 e5 27 2e 5b 3b e8 77 79 3e",
		rc:          "f3 4b ee ed 9f ff 79 ef 19 82 a9 51 3d 18 77 10",
		guid:        "ec 64 ef 5f da fd 9f e6 87 a6 d0 20 7e 2d 11 59",
		rakp2:       "19 2e 30 4a d4 aa 9c 4b 28 14 6d c6 d0 18 31 fa 8a 10 e4 cd",
		rakp3:       "e1 70 4b b9 8c bb a2 d9 70 ee 93 46 29 bc 81 b2 7f 72 80 b2",
		sik:         "40 a0 e4 7e 29 7e a5 8f 6a 6e c5 10 6c 18 1e 47 21 44 aa 46",
		k1:          "78 64 c0 fe b2 6a 26 b3 6a ce 32 08 13 c6 20 e1 ff b4 38 2e",
		k2:          "d2 8c 6d 4b 39 29 ff 3c 47 c3 8f 32 59 e0 09 8f 6a 12 55 3f",
		rakp4Prefix: "35 03 62 5b 60 f1 82 69 48 72 16 76",
	},
	{
		suite: 17, bmcSID: 0xc1c85c03,
		rm:          "0b 3f 8f 49 89 22 c7 e1 f5 41 5e 03 69 8e 01 cc",
		rc:          "0a 88 bd 91 33 d5 3a be d9 9b 5b ed 05 15 d8 9f",
		guid:        "ec 64 ef 5f da fd 9f e6 87 a6 d0 20 7e 2d 11 59",
		rakp2:       "4c 01 2e df af 60 79 31 ce 0c 1f 75 8e 33 ac f2 d1 dc 08 b6 30 24 e7 39 4a b6 01 f9 f3 2c 3d 80",
		rakp3:       "f7 6d 4f fd 4e 7a aa 3b 9a 4f a5 02 4f 4f 2d 19 c7 2c 24 66 3d 44 d1 d0 56 47 cf 4f 41 ef 83 c5",
		sik:         "e4 7e 8a e5 2b d0 aa a4 e8 dc 2b 28 f4 01 df ae 25 d2 12 16 dc ab a5 1f c7 de 7e 7e c4 56 98 36",
		k1:          "2e 62 00 0e 88 fb 4c 21 b4 fb f4 2f 1e 6c bd aa cc 2a 1a cc f4 0d 85 82 48 ce 8a 9d af ad 8f 30",
		k2:          "7a 94 29 c5 fb 7e 08 cc 9b b5 9c 60 a8 f2 09 4c 2b 7d c4 ba 6e b1 bd fc 2c 02 f8 bc a0 bf 98 46",
		rakp4Prefix: "2f 7e 3a 07 d8 de ef 06 aa d9 d8 73 be a0 c3 d6",
	},
}

func TestKeyExchangeMatchesIpmitool(t *testing.T) {
	for _, v := range ipmitoolSessions {
		kx := keyExchange{suite: cipherSuites[v.suite], consoleSID: 0xa0a2a3a4, bmcSID: v.bmcSID,
			rm: to16(t, v.rm), rc: to16(t, v.rc), guid: to16(t, v.guid), role: 0x14, user: "operator"}
		check := func(what string, got []byte, want string) {
			t.Helper()
			if !bytes.Equal(got, unhex(t, want)) {
				t.Errorf("suite %d %s = % x, ipmitool computed %s", v.suite, what, got, want)
			}
		}
		check("RAKP 2 key exchange code", kx.rakp2("s3cret"), v.rakp2)
		check("RAKP 3 key exchange code", kx.rakp3("s3cret"), v.rakp3)
		sik := kx.sik("s3cret", nil)
		check("SIK", sik, v.sik)
		k := deriveKeys(kx.suite, sik)
		check("K1", k.k1, v.k1)
		check("K2", k.k2, v.k2)
		check("RAKP 4 integrity check value", kx.rakp4(sik), v.rakp4Prefix)
	}
}

// ipmitool's first in-session request of the suite-3 session above (Set
// Session Privilege Level to ADMINISTRATOR): its AuthCode over AuthType ..
// Next Header with K1, and its AES-CBC-128 payload under K2.
func TestInSessionCryptoMatchesIpmitool(t *testing.T) {
	s := cipherSuites[3]
	k1 := unhex(t, ipmitoolSessions[0].k1)
	k2 := unhex(t, ipmitoolSessions[0].k2)
	signed := unhex(t, "06 c0 76 ac 8f 01 03 00 00 00 20 00 71 08 c7 18 1b fb b6 b0 66 e9 6c ba f6 a2 48 03 86 ec d2 73 02 d1 69 a8 40 2a 4e 02 8e a5 77 90 ff ff 02 07")
	if got, want := s.authCode(k1, signed), unhex(t, "9c a7 97 70 08 e2 be f8 c7 a7 28 50"); !bytes.Equal(got, want) {
		t.Fatalf("AuthCode % x, ipmitool sent % x", got, want)
	}
	payload := signed[12 : 12+32]
	plain, err := decryptAES(k2, payload)
	if err != nil {
		t.Fatal(err)
	}
	m, err := decodeMessage(plain)
	if err != nil || m.netFn != netFnApp || m.cmd != cmdSetSessionPrivilege || !bytes.Equal(m.data, []byte{4}) {
		t.Fatalf("decrypted % x: %+v %v", plain, m, err)
	}
	// Encrypting it again with ipmitool's IV gives ipmitool's bytes: the
	// same pad (1, 2, 3, …, then its length) as ipmitool.
	if again := encryptAESWithIV(k2, plain, payload[:16]); !bytes.Equal(again, payload) {
		t.Fatalf("re-encrypted % x, ipmitool sent % x", again, payload)
	}
}

// The spec's formulas, written out here byte by byte from IPMI v2.0
// sections 13.21–13.23 and 13.31–13.32, for random inputs and a user name
// of each length.
func TestKeyExchangeFollowsSpecFormulas(t *testing.T) {
	for _, id := range []byte{3, 17} {
		suite := cipherSuites[id]
		h := sha1.New
		if id == 17 {
			h = sha256.New
		}
		mac := func(key []byte, parts ...[]byte) []byte {
			m := hmac.New(h, key)
			for _, p := range parts {
				m.Write(p)
			}
			return m.Sum(nil)
		}
		for n := 0; n <= 16; n++ {
			user := strings.Repeat("u", n)
			kx := keyExchange{suite: suite, consoleSID: 0x04030201, bmcSID: 0x0d0c0b0a, role: 0x04, user: user}
			for i := range 16 {
				kx.rm[i], kx.rc[i], kx.guid[i] = byte(0x10+i), byte(0x30+i), byte(0x50+i)
			}
			pw := "pw"
			key := append([]byte("pw"), make([]byte, 18)...)
			rakp2 := mac(key, []byte{1, 2, 3, 4, 0x0a, 0x0b, 0x0c, 0x0d}, kx.rm[:], kx.rc[:], kx.guid[:], []byte{0x04, byte(n)}, []byte(user))
			if !bytes.Equal(kx.rakp2(pw), rakp2) {
				t.Fatalf("suite %d user %q: RAKP 2", id, user)
			}
			rakp3 := mac(key, kx.rc[:], []byte{1, 2, 3, 4, 0x04, byte(n)}, []byte(user))
			if !bytes.Equal(kx.rakp3(pw), rakp3) {
				t.Fatalf("suite %d user %q: RAKP 3", id, user)
			}
			sik := mac(key, kx.rm[:], kx.rc[:], []byte{0x04, byte(n)}, []byte(user))
			if !bytes.Equal(kx.sik(pw, nil), sik) {
				t.Fatalf("suite %d user %q: SIK", id, user)
			}
			rakp4 := mac(sik, kx.rm[:], []byte{0x0a, 0x0b, 0x0c, 0x0d}, kx.guid[:])
			want := map[byte]int{3: 12, 17: 16}[id]
			if got := kx.rakp4(sik); !bytes.Equal(got, rakp4[:want]) {
				t.Fatalf("suite %d: RAKP 4 % x", id, got)
			}
			k := deriveKeys(suite, sik)
			if !bytes.Equal(k.k1, mac(sik, bytes.Repeat([]byte{1}, 20))) || !bytes.Equal(k.k2, mac(sik, bytes.Repeat([]byte{2}, 20))) {
				t.Fatalf("suite %d: K1/K2", id)
			}
		}
	}
}

// AES-CBC-128 confidentiality (section 13.29): the pad bytes count up from
// 1, the pad length comes last, the whole is whole blocks after the IV.
func TestAESPadding(t *testing.T) {
	k2 := bytes.Repeat([]byte{7}, 20)
	iv := bytes.Repeat([]byte{9}, 16)
	block, _ := aes.NewCipher(k2[:16])
	for n := 0; n <= 40; n++ {
		plain := bytes.Repeat([]byte{0xAB}, n)
		out := encryptAESWithIV(k2, plain, iv)
		if len(out)%16 != 0 || !bytes.Equal(out[:16], iv) {
			t.Fatalf("%d bytes: %d bytes out, IV % x", n, len(out), out[:16])
		}
		dec := make([]byte, len(out)-16)
		cipher.NewCBCDecrypter(block, iv).CryptBlocks(dec, out[16:])
		pad := int(dec[len(dec)-1])
		if len(dec) != n+pad+1 || pad > 15 {
			t.Fatalf("%d bytes: pad %d in %d", n, pad, len(dec))
		}
		for i := range pad {
			if dec[n+i] != byte(i+1) {
				t.Fatalf("%d bytes: pad byte %d is %d", n, i, dec[n+i])
			}
		}
		back, err := decryptAES(k2, out)
		if err != nil || !bytes.Equal(back, plain) {
			t.Fatalf("%d bytes: round trip % x, %v", n, back, err)
		}
		// A wrong pad is refused, not read as data.
		bad := bytes.Clone(dec)
		bad[len(bad)-1] = 16
		enc := make([]byte, len(bad))
		cipher.NewCBCEncrypter(block, iv).CryptBlocks(enc, bad)
		if _, err := decryptAES(k2, append(bytes.Clone(iv), enc...)); err == nil {
			t.Fatalf("%d bytes: pad length 16 accepted", n)
		}
	}
	if _, err := decryptAES(k2, make([]byte, 17)); err == nil {
		t.Fatal("a payload that is not whole blocks was accepted")
	}
}
