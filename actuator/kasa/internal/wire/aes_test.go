package wire

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"testing"
)

func TestAESRoundTrip(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, AESKeyBits)
	if err != nil {
		t.Fatal(err)
	}
	pemKey, err := AESPublicKeyPEM(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := ParseAESPublicKey(pemKey)
	if err != nil {
		t.Fatal(err)
	}
	keyIV := bytes.Repeat([]byte{7}, 32)
	sealed, err := SealAESHandshakeKey(pub, keyIV)
	if err != nil {
		t.Fatal(err)
	}
	opened, err := OpenAESHandshakeKey(key, sealed)
	if err != nil || !bytes.Equal(opened, keyIV) {
		t.Fatalf("handshake key %x, %v", opened, err)
	}
	s, _ := NewAESSession(keyIV)
	for _, plain := range []string{"", "{}", `{"method":"get_device_info"}`, "0123456789abcdef"} {
		back, err := s.Decrypt(s.Encrypt([]byte(plain)))
		if err != nil || string(back) != plain {
			t.Fatalf("%q -> %q, %v", plain, back, err)
		}
	}
}

// The credential forms exactly as python-kasa's AesTransport.hash_credentials
// builds them (values computed with Python's hashlib and base64).
func TestAESLoginParams(t *testing.T) {
	v1 := AESLoginParams(1, "user@example.com", "pass")
	v2 := AESLoginParams(2, "user@example.com", "pass")
	// base64(sha1("user@example.com").hexdigest())
	const un = "NjNhNzEwNTY5MjYxYTI0YjM3NjYyNzViNzAwMGNlOGQ3YjMyZTJmNw=="
	if v1["username"] != un || v2["username"] != un {
		t.Fatalf("username = %q / %q", v1["username"], v2["username"])
	}
	if v1["password"] != "cGFzcw==" || len(v1) != 2 {
		t.Fatalf("v1 = %v", v1)
	}
	// base64(sha1("pass").hexdigest())
	if v2["password2"] != "OWQ0ZTFlMjNiZDViNzI3MDQ2YTllM2I0YjdkYjU3YmQ4ZDZlZTY4NA==" || len(v2) != 2 {
		t.Fatalf("v2 = %v", v2)
	}
}

func TestOpenAESResponse(t *testing.T) {
	s, _ := NewAESSession(bytes.Repeat([]byte{1}, 32))
	ok, _ := json.Marshal(map[string]any{"error_code": 0, "result": map[string]string{"response": s.Encrypt([]byte(`{"error_code":0}`))}})
	plain, _ := json.Marshal(map[string]any{"error_code": 0, "result": map[string]string{"response": `{"error_code":-1002}`}})
	for _, tc := range []struct {
		name  string
		body  string
		code  int
		inner string
		err   error
	}{
		{"encrypted", string(ok), 0, `{"error_code":0}`, nil},
		{"plain JSON in response, as some firmware sends", string(plain), 0, `{"error_code":-1002}`, nil},
		{"outer error", `{"error_code":9999}`, 9999, "", nil},
		{"not decryptable", `{"error_code":0,"result":{"response":"AAAA"}}`, 0, "", ErrAESDecode},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, inner, err := OpenAESResponse(s, []byte(tc.body))
			if code != tc.code || string(inner) != tc.inner || (tc.err != nil) != (err != nil) || tc.err != nil && !errors.Is(err, tc.err) {
				t.Fatalf("= %d, %q, %v", code, inner, err)
			}
		})
	}
}

func FuzzAESResponse(f *testing.F) {
	s, _ := NewAESSession(bytes.Repeat([]byte{3}, 32))
	good, _ := json.Marshal(map[string]any{"error_code": 0, "result": map[string]string{"response": s.Encrypt([]byte(`{"error_code":0,"result":{}}`))}})
	f.Add(good)
	f.Add([]byte(`{"error_code":9999}`))
	f.Add([]byte(`{"error_code":0,"result":{"response":"////"}}`))
	f.Add([]byte(`{"error_code":0,"result":{"response":"{}"}}`))
	f.Add([]byte(`not json`))
	f.Fuzz(func(t *testing.T, body []byte) {
		code, inner, err := OpenAESResponse(s, body)
		switch {
		case err != nil:
			if code != 0 || inner != nil {
				t.Fatalf("error with results: %d %q", code, inner)
			}
		case code != 0:
			if inner != nil {
				t.Fatal("payload with an error code")
			}
		default:
			if !json.Valid(inner) {
				t.Fatalf("invalid JSON accepted: %q", inner)
			}
		}
	})
}

func FuzzAESDecrypt(f *testing.F) {
	s, _ := NewAESSession(bytes.Repeat([]byte{3}, 32))
	f.Add(s.Encrypt([]byte(`{"a":1}`)))
	f.Add("")
	f.Add("AAAAAAAAAAAAAAAAAAAAAA==")
	f.Fuzz(func(t *testing.T, b64 string) {
		plain, err := s.Decrypt(b64)
		if err != nil {
			return
		}
		// What decrypts must encrypt back to the same bytes.
		again, err := s.Decrypt(s.Encrypt(plain))
		if err != nil || !bytes.Equal(again, plain) {
			t.Fatalf("round trip: %q %v", again, err)
		}
	})
}
