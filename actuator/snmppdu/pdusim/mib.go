package pdusim

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
)

// oid is a parsed OBJECT IDENTIFIER, compared arc by arc as SNMP orders
// them for GETNEXT.
type oid []uint32

func parseOID(s string) (oid, bool) {
	s = strings.TrimPrefix(s, ".")
	if s == "" {
		return nil, false
	}
	parts := strings.Split(s, ".")
	o := make(oid, len(parts))
	for i, p := range parts {
		n, err := strconv.ParseUint(p, 10, 32)
		if err != nil {
			return nil, false
		}
		o[i] = uint32(n)
	}
	return o, true
}

func (o oid) String() string {
	var b strings.Builder
	for i, a := range o {
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(strconv.FormatUint(uint64(a), 10))
	}
	return b.String()
}

func compareOID(a, b oid) int {
	for i := range min(len(a), len(b)) {
		if c := cmp.Compare(a[i], b[i]); c != 0 {
			return c
		}
	}
	return cmp.Compare(len(a), len(b))
}

// view is the agent's MIB at one moment, sorted by OID.
type view struct {
	oids []oid
	vals map[string]value
}

type value struct {
	integer  bool
	gauge    bool
	ticks    bool
	isOID    bool
	counter  bool
	n        int
	s        string
	writable bool
}

func (v *view) add(o string, val value) {
	p, _ := parseOID(o)
	v.oids = append(v.oids, p)
	v.vals[p.String()] = val
}

func (v *view) sort() { slices.SortFunc(v.oids, compareOID) }

// next is the first OID after o, for GETNEXT and GETBULK.
func (v *view) next(o oid) (oid, bool) {
	i, found := slices.BinarySearchFunc(v.oids, o, compareOID)
	if found {
		i++
	}
	if i >= len(v.oids) {
		return nil, false
	}
	return v.oids[i], true
}
