package snmppdu

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gosnmp/gosnmp"
)

// intValue reads an INTEGER-like varbind (INTEGER, Gauge32, Counter32,
// Unsigned32, TimeTicks). noSuchObject and friends, strings and anything
// out of the int32 range are errors naming the OID.
func intValue(v gosnmp.SnmpPDU) (int, error) {
	switch v.Type {
	case gosnmp.Integer, gosnmp.Gauge32, gosnmp.Counter32, gosnmp.Uinteger32, gosnmp.TimeTicks:
	case gosnmp.NoSuchObject, gosnmp.NoSuchInstance, gosnmp.EndOfMibView:
		return 0, fmt.Errorf("%w: %s is %s: the PDU does not have it", ErrBadAnswer, v.Name, v.Type)
	default:
		return 0, fmt.Errorf("%w: %s is %s, not a number", ErrBadAnswer, v.Name, v.Type)
	}
	var n int64
	switch x := v.Value.(type) {
	case int:
		n = int64(x)
	case uint:
		if uint64(x) > math.MaxInt32 {
			return 0, fmt.Errorf("%w: %s is %d, out of range", ErrBadAnswer, v.Name, x)
		}
		n = int64(x)
	case uint32:
		n = int64(x)
	case int64:
		n = x
	case uint64:
		if x > math.MaxInt32 {
			return 0, fmt.Errorf("%w: %s is %d, out of range", ErrBadAnswer, v.Name, x)
		}
		n = int64(x)
	default:
		return 0, fmt.Errorf("%w: %s holds %T", ErrBadAnswer, v.Name, v.Value)
	}
	if n < math.MinInt32 || n > math.MaxUint32 {
		return 0, fmt.Errorf("%w: %s is %d, out of range", ErrBadAnswer, v.Name, n)
	}
	return int(n), nil
}

// stringValue reads an OCTET STRING varbind as text; bytes that are not
// UTF-8 are replaced, NULs trimmed (some agents pad names).
func stringValue(v gosnmp.SnmpPDU) (string, error) {
	if v.Type != gosnmp.OctetString {
		return "", fmt.Errorf("%w: %s is %s, not a string", ErrBadAnswer, v.Name, v.Type)
	}
	b, ok := v.Value.([]byte)
	if !ok {
		return "", fmt.Errorf("%w: %s holds %T", ErrBadAnswer, v.Name, v.Value)
	}
	s := strings.ToValidUTF8(string(b), string(utf8.RuneError))
	return strings.TrimRight(s, "\x00 "), nil
}

// oidValue reads an OBJECT IDENTIFIER varbind without its leading dot.
func oidValue(v gosnmp.SnmpPDU) (string, error) {
	if v.Type != gosnmp.ObjectIdentifier {
		return "", fmt.Errorf("%w: %s is %s, not an OID", ErrBadAnswer, v.Name, v.Type)
	}
	s, ok := v.Value.(string)
	if !ok {
		return "", fmt.Errorf("%w: %s holds %T", ErrBadAnswer, v.Name, v.Value)
	}
	return strings.TrimPrefix(s, "."), nil
}

// rowOf returns the row index of a varbind in a table column: the last arc
// after column. ok is false when the OID is not a direct row of it.
func rowOf(name, column string) (int, bool) {
	name = strings.TrimPrefix(name, ".")
	rest, found := strings.CutPrefix(name, column+".")
	if !found || strings.Contains(rest, ".") {
		return 0, false
	}
	n, err := strconv.Atoi(rest)
	if err != nil || n <= 0 {
		return 0, false
	}
	return n, true
}
