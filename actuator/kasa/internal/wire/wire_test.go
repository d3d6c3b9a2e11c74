package wire

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"testing"
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestXORKnownVector(t *testing.T) {
	// The sysinfo query as every Kasa tool sends it (checked against an
	// independent implementation).
	plain := []byte(`{"system":{"get_sysinfo":{}}}`)
	want := mustHex(t, "0000001dd0f281f88bff9af7d5ef94b6d1b4c09fec95e68fe187e8caf08bf68bf6")
	got := AppendFrame(nil, plain)
	if !bytes.Equal(got, want) {
		t.Fatalf("frame = %x, want %x", got, want)
	}
	dec, n, err := DecodeFrame(got)
	if err != nil || n != len(got) || !bytes.Equal(dec, plain) {
		t.Fatalf("DecodeFrame = %q, %d, %v", dec, n, err)
	}
	back, err := ReadFrame(bytes.NewReader(got))
	if err != nil || !bytes.Equal(back, plain) {
		t.Fatalf("ReadFrame = %q, %v", back, err)
	}
}

func TestDecodeFrameErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, io.ErrUnexpectedEOF},
		{"short header", []byte{0, 0, 1}, io.ErrUnexpectedEOF},
		{"short payload", []byte{0, 0, 0, 5, 1, 2}, io.ErrUnexpectedEOF},
		{"http answer", []byte("HTTP/1.1 400 Bad Request\r\n"), ErrFrameTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := DecodeFrame(tc.in)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if _, err := ReadFrame(bytes.NewReader(tc.in)); err == nil {
				t.Fatal("ReadFrame accepted a broken frame")
			}
		})
	}
}

func TestKLAPDerivationMatchesReference(t *testing.T) {
	// Values computed independently (hashlib + openssl) from python-kasa's
	// description of the protocol.
	local := make([]byte, 16)
	remote := make([]byte, 16)
	for i := range 16 {
		local[i], remote[i] = byte(i), byte(16+i)
	}
	v1 := AuthHash(KLAPv1, "kasa@tp-link.net", "kasaSetup")
	v2 := AuthHash(KLAPv2, "kasa@tp-link.net", "kasaSetup")
	for _, tc := range []struct {
		name string
		got  []byte
		want string
	}{
		{"auth v1", v1, "74b751bdd208bc155ae2a6d4167cc44d"},
		{"auth v2", v2, "49fc4839a2733ffbf464337648f65dc411778d4c03ec82c5e4cccc682163fa64"},
		{"handshake1 v1", Handshake1Hash(KLAPv1, local, remote, v1), "dcfc316f8b3578506c05734a4f0c8d832fb913c739c39cc8eda44f39305ca137"},
		{"handshake1 v2", Handshake1Hash(KLAPv2, local, remote, v2), "54a39a10c8341759f552c7721bd433af09076e3f02529bafab6317cada0878d6"},
		{"handshake2 v2", Handshake2Hash(KLAPv2, local, remote, v2), "7d225c99dfc1471c8104cdff81dbcdfff1263440eace413c336fb96cbc420c4c"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if hex.EncodeToString(tc.got) != tc.want {
				t.Fatalf("got %x, want %s", tc.got, tc.want)
			}
		})
	}
	s := NewSession(local, remote, v2)
	msg := []byte(`{"method":"get_device_info"}`)
	body, seq := s.Next(msg)
	if seq != 1843370460 {
		t.Fatalf("seq = %d", seq)
	}
	want := "5d2cdd913574966fa8da486dc79deb5db49b206e6276437dd3db8389a03e5aab693ceb2f98f395bd67f5c5c8bdfef32d3cc1c9fa79811db28cd95cd11b4041fc"
	if hex.EncodeToString(body) != want {
		t.Fatalf("body = %x\nwant   %s", body, want)
	}
	peer := NewSession(local, remote, v2)
	got, err := peer.Open(seq, body, true)
	if err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("Open = %q, %v", got, err)
	}
}

func TestKLAPOpenRejects(t *testing.T) {
	s := NewSession(make([]byte, 16), make([]byte, 16), make([]byte, 16))
	good := s.Seal(7, []byte("hello"))
	other := NewSession(make([]byte, 16), bytes.Repeat([]byte{1}, 16), make([]byte, 16))
	for _, tc := range []struct {
		name   string
		s      *Session
		seq    int32
		body   []byte
		verify bool
	}{
		{"short", s, 7, good[:20], false},
		{"not whole blocks", s, 7, good[:len(good)-3], false},
		{"signature only", s, 7, good[:32], false},
		{"wrong seq signature", s, 8, good, true},
		{"wrong key", other, 7, good, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tc.s.Open(tc.seq, tc.body, tc.verify); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func TestTDPRoundTrip(t *testing.T) {
	q := TDPQuery([]byte(`{"params":{}}`), 42)
	if !IsTDP(q) {
		t.Fatal("IsTDP = false")
	}
	p, err := TDPPayload(q)
	if err != nil || string(p) != `{"params":{}}` {
		t.Fatalf("payload = %q, %v", p, err)
	}
	if IsTDP(XOREncrypt(nil, []byte(`{"system":{}}`))) {
		t.Fatal("XOR discovery mistaken for TDP")
	}
}

func FuzzXORDecode(f *testing.F) {
	f.Add(AppendFrame(nil, []byte(`{"system":{"get_sysinfo":{}}}`)))
	f.Add([]byte{0, 0, 0, 0})
	f.Add([]byte("HTTP/1.1 400"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, n, err := DecodeFrame(b)
		if err != nil {
			return
		}
		if n > len(b) || n != 4+len(p) {
			t.Fatalf("consumed %d of %d for %d-byte payload", n, len(b), len(p))
		}
		if !bytes.Equal(AppendFrame(nil, p), b[:n]) {
			t.Fatal("re-encoding differs")
		}
		r, err := ReadFrame(bytes.NewReader(b))
		if err != nil || !bytes.Equal(r, p) {
			t.Fatalf("ReadFrame disagrees: %q %v", r, err)
		}
	})
}

func FuzzKLAPResponse(f *testing.F) {
	s := NewSession(make([]byte, 16), make([]byte, 16), make([]byte, 16))
	f.Add(int32(1), s.Seal(1, []byte(`{"error_code":0}`)))
	f.Add(int32(0), []byte{})
	f.Add(int32(-1), bytes.Repeat([]byte{0xff}, 48))
	f.Fuzz(func(t *testing.T, seq int32, body []byte) {
		plain, err := s.Open(seq, body, false)
		if err != nil {
			return
		}
		if len(plain) >= len(body)-32 {
			t.Fatalf("plaintext %d bytes from %d-byte body", len(plain), len(body))
		}
		// What opens must seal back to the same ciphertext.
		if !bytes.Equal(s.Seal(seq, plain)[32:], body[32:]) {
			t.Fatal("round trip differs")
		}
	})
}

func BenchmarkXOREncodeDecode(b *testing.B) {
	// A typical HS300 sysinfo answer is about 2 KiB.
	payload := bytes.Repeat([]byte(`{"system":{"get_sysinfo":{"alias":"x"}}}`), 50)
	buf := make([]byte, 0, 4+len(payload))
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendFrame(buf[:0], payload)
		if _, _, err := DecodeFrame(buf); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkKLAPSealOpen(b *testing.B) {
	s := NewSession(make([]byte, 16), make([]byte, 16), make([]byte, 16))
	payload := bytes.Repeat([]byte("x"), 2000)
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		body, seq := s.Next(payload)
		if _, err := s.Open(seq, body, true); err != nil {
			b.Fatal(err)
		}
	}
}
