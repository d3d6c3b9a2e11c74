package kasasim_test

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"testing"
	"time"

	"github.com/restartinator/restartinator/actuator/kasa/kasasim"
)

// TestAESPublishedAPI drives the AES simulator as another program would:
// plain HTTP and the standard library's RSA and AES, the steps python-kasa's
// aestransport.py takes, without our client or wire package.
func TestAESPublishedAPI(t *testing.T) {
	p := start(t, kasasim.Options{Model: "KP125M", Protocol: "aes", LoginVersion: 1, Username: "u@example.com", Password: "pw"})
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Timeout: 5 * time.Second}
	app := "http://" + p.Addr() + "/app"
	post := func(url string, v any) map[string]any {
		t.Helper()
		b, _ := json.Marshal(v)
		req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("requestByApp", "true")
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("HTTP %d: %s", resp.StatusCode, body)
		}
		var out map[string]any
		if err := json.Unmarshal(body, &out); err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		return out
	}

	// 1. handshake: our RSA-1024 public key in, the AES key and IV out.
	key, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	pemKey := "-----BEGIN PUBLIC KEY-----\n" + base64.StdEncoding.EncodeToString(der) + "\n-----END PUBLIC KEY-----\n"
	hs := post(app, map[string]any{"method": "handshake", "params": map[string]string{"key": pemKey}})
	if hs["error_code"] != float64(0) {
		t.Fatalf("handshake: %v", hs)
	}
	sealed, _ := base64.StdEncoding.DecodeString(hs["result"].(map[string]any)["key"].(string))
	keyIV, err := rsa.DecryptPKCS1v15(nil, key, sealed) //nolint:staticcheck // the firmware's padding
	if err != nil || len(keyIV) != 32 {
		t.Fatalf("handshake key: %d bytes, %v", len(keyIV), err)
	}
	block, _ := aes.NewCipher(keyIV[:16])
	iv := keyIV[16:]
	enc := func(plain []byte) string {
		n := 16 - len(plain)%16
		buf := append(append([]byte(nil), plain...), bytes.Repeat([]byte{byte(n)}, n)...)
		cipher.NewCBCEncrypter(block, iv).CryptBlocks(buf, buf)
		return base64.StdEncoding.EncodeToString(buf)
	}
	dec := func(s string) map[string]any {
		buf, _ := base64.StdEncoding.DecodeString(s)
		cipher.NewCBCDecrypter(block, iv).CryptBlocks(buf, buf)
		buf = buf[:len(buf)-int(buf[len(buf)-1])]
		var out map[string]any
		if err := json.Unmarshal(buf, &out); err != nil {
			t.Fatalf("inner answer %q: %v", buf, err)
		}
		return out
	}
	passthrough := func(url string, inner any) map[string]any {
		t.Helper()
		b, _ := json.Marshal(inner)
		out := post(url, map[string]any{"method": "securePassthrough", "params": map[string]string{"request": enc(b)}})
		if out["error_code"] != float64(0) {
			return out
		}
		return dec(out["result"].(map[string]any)["response"].(string))
	}

	// 2. Without a token, requests are refused with 9999.
	if got := passthrough(app, map[string]any{"method": "get_device_info"}); got["error_code"] != float64(9999) {
		t.Fatalf("request before login: %v", got)
	}
	// 3. login_device, version 1: username base64(sha1-hex), password base64.
	sha := func(s string) string { h := sha1.Sum([]byte(s)); return hex.EncodeToString(h[:]) }
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	bad := passthrough(app, map[string]any{"method": "login_device", "params": map[string]string{"username": b64(sha("u@example.com")), "password": b64("nope")}})
	if bad["error_code"] != float64(-1501) {
		t.Fatalf("wrong password: %v", bad)
	}
	login := passthrough(app, map[string]any{"method": "login_device", "request_time_milis": time.Now().UnixMilli(),
		"params": map[string]string{"username": b64(sha("u@example.com")), "password": b64("pw")}})
	if login["error_code"] != float64(0) {
		t.Fatalf("login: %v", login)
	}
	token := login["result"].(map[string]any)["token"].(string)
	// 4. With ?token=, the SMART API answers: switch off and read back.
	withToken := app + "?token=" + token
	if got := passthrough(withToken, map[string]any{"method": "set_device_info", "params": map[string]bool{"device_on": false}}); got["error_code"] != float64(0) {
		t.Fatalf("set_device_info: %v", got)
	}
	info := passthrough(withToken, map[string]any{"method": "get_device_info"})
	if info["result"].(map[string]any)["device_on"] != false || p.On(0) {
		t.Fatalf("device_on after switching off: %v", info)
	}
	// 5. A countdown rule, and a second one refused with -1802.
	rule := map[string]any{"delay": 60, "desired_states": map[string]bool{"on": true}, "enable": true, "remain": 60}
	if got := passthrough(withToken, map[string]any{"method": "add_countdown_rule", "params": rule}); got["error_code"] != float64(0) {
		t.Fatalf("add_countdown_rule: %v", got)
	}
	if got := passthrough(withToken, map[string]any{"method": "add_countdown_rule", "params": rule}); got["error_code"] != float64(-1802) {
		t.Fatalf("second add_countdown_rule: %v, want -1802", got)
	}
	// 6. A request that does not decrypt: -1005, nothing done.
	garbled := post(withToken, map[string]any{"method": "securePassthrough", "params": map[string]string{"request": "bm90IGFlcw=="}})
	if garbled["error_code"] != float64(-1005) {
		t.Fatalf("garbled request: %v", garbled)
	}
}
