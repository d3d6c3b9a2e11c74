package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// xorKey is the first key of the autokey cipher every legacy Kasa device uses.
const xorKey = 171

// MaxFrame bounds the payload length a frame header may announce. Real
// devices answer a few KiB (an HS300 sysinfo is ~2 KiB); anything past this is
// not a Kasa device talking, e.g. an HTTP server answering "HTTP/1.1 400".
const MaxFrame = 1 << 20

// ErrFrameTooLarge means a frame header announced more than MaxFrame bytes.
var ErrFrameTooLarge = errors.New("frame length out of range (not a Kasa XOR device?)")

// XOREncrypt appends the autokey encryption of src to dst: each output byte is
// the input byte XOR the previous output byte, starting from 171.
func XOREncrypt(dst, src []byte) []byte {
	key := byte(xorKey)
	for _, b := range src {
		key ^= b
		dst = append(dst, key)
	}
	return dst
}

// XORDecrypt appends the decryption of src to dst.
func XORDecrypt(dst, src []byte) []byte {
	key := byte(xorKey)
	for _, b := range src {
		dst = append(dst, key^b)
		key = b
	}
	return dst
}

// AppendFrame appends the TCP frame for payload: a 4-byte big-endian length
// then the encrypted payload. Callers send it in one write because some
// implementations treat each TCP segment as a whole message.
func AppendFrame(dst, payload []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(payload)))
	return XOREncrypt(dst, payload)
}

// DecodeFrame decodes one frame from the start of b. It returns the decrypted
// payload and the number of bytes of b consumed, or io.ErrUnexpectedEOF when b
// holds only part of a frame.
func DecodeFrame(b []byte) (payload []byte, n int, err error) {
	if len(b) < 4 {
		return nil, 0, io.ErrUnexpectedEOF
	}
	size := binary.BigEndian.Uint32(b)
	if size > MaxFrame {
		return nil, 0, fmt.Errorf("%w: header says %d bytes", ErrFrameTooLarge, size)
	}
	if uint32(len(b)-4) < size {
		return nil, 0, io.ErrUnexpectedEOF
	}
	end := 4 + int(size)
	return XORDecrypt(make([]byte, 0, size), b[4:end]), end, nil
}

// ReadFrame reads exactly one frame from r, by its length prefix, and returns
// the decrypted payload. Devices keep the connection open, so reading to EOF
// would hang.
func ReadFrame(r io.Reader) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	size := binary.BigEndian.Uint32(hdr[:])
	if size > MaxFrame {
		return nil, fmt.Errorf("%w: header says %d bytes", ErrFrameTooLarge, size)
	}
	buf := make([]byte, size)
	if _, err := io.ReadFull(r, buf); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return XORDecrypt(buf[:0], buf), nil
}
