package wire

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
)

// TDP is the 16-byte header of discovery on UDP 20002:
// version, message type, op code, payload size, flags, padding, serial, CRC32.
const (
	TDPHeaderLen = 16
	tdpInitCRC   = 0x5A6B7C8D
)

// TDPQuery builds a discovery probe carrying payload (the JSON with the
// client's RSA public key). The CRC covers the whole packet, computed with the
// CRC field holding a fixed seed.
func TDPQuery(payload []byte, serial uint32) []byte {
	return tdpPacket(2, 0, 1, 0x11, payload, serial)
}

// TDPResponse builds a device's answer to a probe.
func TDPResponse(payload []byte, serial uint32) []byte {
	return tdpPacket(2, 0, 1, 0x01, payload, serial)
}

func tdpPacket(version, msgType byte, op uint16, flags byte, payload []byte, serial uint32) []byte {
	b := make([]byte, TDPHeaderLen, TDPHeaderLen+len(payload))
	b[0], b[1] = version, msgType
	binary.BigEndian.PutUint16(b[2:], op)
	binary.BigEndian.PutUint16(b[4:], uint16(len(payload)))
	b[6], b[7] = flags, 0
	binary.BigEndian.PutUint32(b[8:], serial)
	binary.BigEndian.PutUint32(b[12:], tdpInitCRC)
	b = append(b, payload...)
	binary.BigEndian.PutUint32(b[12:], crc32.ChecksumIEEE(b))
	return b
}

// IsTDP reports whether b looks like a TDP packet rather than XOR discovery.
func IsTDP(b []byte) bool { return len(b) >= TDPHeaderLen && b[0] == 2 && b[1] == 0 }

// TDPPayload returns the JSON after the header. Devices are not consistent
// about the size field, so the rest of the datagram is taken.
func TDPPayload(b []byte) ([]byte, error) {
	if len(b) < TDPHeaderLen {
		return nil, errors.New("TDP packet shorter than its 16-byte header")
	}
	return b[TDPHeaderLen:], nil
}
