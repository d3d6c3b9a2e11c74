package pdusim

import (
	"errors"
	"fmt"
)

// BER tags of the SNMPv3 message wrapper (RFC 3412 section 6, RFC 3414
// section 2.4). gosnmp decodes PDUs but keeps the v3 header, the security
// parameters and the offsets an agent needs (to blank the MAC and check
// it) to itself, so the agent reads the wrapper with this small reader.
const (
	tagInteger     = 0x02
	tagOctetString = 0x04
	tagSequence    = 0x30
)

var errBER = errors.New("malformed BER")

// berReader reads definite-length BER elements from b, keeping the offset
// into the whole message.
type berReader struct {
	msg []byte // the whole message
	off int    // the next element's offset in msg
	end int    // this reader stops here
}

func newBERReader(msg []byte) *berReader { return &berReader{msg: msg, end: len(msg)} }

// next reads one element: its tag, the offset and length of its content.
func (r *berReader) next() (tag byte, off, n int, err error) {
	if r.off+2 > r.end {
		return 0, 0, 0, fmt.Errorf("%w: truncated at byte %d", errBER, r.off)
	}
	tag = r.msg[r.off]
	l := int(r.msg[r.off+1])
	off = r.off + 2
	if l&0x80 != 0 {
		k := l & 0x7f
		// Lengths of up to 3 octets: a UDP datagram is below 64 KiB.
		if k == 0 || k > 3 || off+k > r.end {
			return 0, 0, 0, fmt.Errorf("%w: bad length at byte %d", errBER, r.off)
		}
		l = 0
		for _, c := range r.msg[off : off+k] {
			l = l<<8 | int(c)
		}
		off += k
	}
	if off+l > r.end {
		return 0, 0, 0, fmt.Errorf("%w: element at byte %d runs past its container", errBER, r.off)
	}
	r.off = off + l
	return tag, off, l, nil
}

// expect reads one element that must have the tag.
func (r *berReader) expect(want byte, what string) (off, n int, err error) {
	tag, off, n, err := r.next()
	if err != nil {
		return 0, 0, fmt.Errorf("%s: %w", what, err)
	}
	if tag != want {
		return 0, 0, fmt.Errorf("%w: %s has tag 0x%02x, want 0x%02x", errBER, what, tag, want)
	}
	return off, n, nil
}

// enter reads a SEQUENCE and returns a reader of its content.
func (r *berReader) enter(what string) (*berReader, error) {
	off, n, err := r.expect(tagSequence, what)
	if err != nil {
		return nil, err
	}
	return &berReader{msg: r.msg, off: off, end: off + n}, nil
}

// integer reads a non-negative INTEGER of up to 31 bits, as every integer
// of the v3 header is (RFC 3412: 0..2147483647).
func (r *berReader) integer(what string) (int, error) {
	off, n, err := r.expect(tagInteger, what)
	if err != nil {
		return 0, err
	}
	b := r.msg[off : off+n]
	if n == 0 || b[0]&0x80 != 0 { // empty or negative
		return 0, fmt.Errorf("%w: %s is not an integer in 0..2147483647", errBER, what)
	}
	// Leading zero octets are allowed (gosnmp sends msgID in 4 or 5).
	for len(b) > 1 && b[0] == 0 {
		b = b[1:]
	}
	if len(b) > 4 {
		return 0, fmt.Errorf("%w: %s is not an integer in 0..2147483647", errBER, what)
	}
	v := 0
	for _, c := range b {
		v = v<<8 | int(c)
	}
	if v > 0x7fffffff {
		return 0, fmt.Errorf("%w: %s is not an integer in 0..2147483647", errBER, what)
	}
	return v, nil
}

// octets reads an OCTET STRING, returning its content and offset.
func (r *berReader) octets(what string) ([]byte, int, error) {
	off, n, err := r.expect(tagOctetString, what)
	if err != nil {
		return nil, 0, err
	}
	return r.msg[off : off+n], off, nil
}

// berLength encodes a definite length.
func berLength(n int) []byte {
	switch {
	case n < 0x80:
		return []byte{byte(n)}
	case n < 0x100:
		return []byte{0x81, byte(n)}
	case n < 0x10000:
		return []byte{0x82, byte(n >> 8), byte(n)}
	}
	return []byte{0x83, byte(n >> 16), byte(n >> 8), byte(n)}
}

// berTLV encodes one element.
func berTLV(tag byte, content []byte) []byte {
	out := append([]byte{tag}, berLength(len(content))...)
	return append(out, content...)
}
