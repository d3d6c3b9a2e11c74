package pdusim

import (
	"errors"
	"slices"

	"github.com/gosnmp/gosnmp"
)

// maxPacket bounds one request datagram.
const maxPacket = 65535

func (p *PDU) serve() {
	defer close(p.done)
	buf := make([]byte, maxPacket)
	for {
		n, from, err := p.conn.ReadFrom(buf)
		if err != nil {
			return // closed
		}
		resp := p.handle(buf[:n])
		if resp != nil {
			if _, err := p.conn.WriteTo(resp, from); err != nil {
				p.log.Debug("pdusim: answer not sent", "to", from, "err", err)
			}
		}
	}
}

// handle answers one datagram; nil means no answer (bad packet, unknown
// community, or the Unreachable fault), as a real agent drops them.
func (p *PDU) handle(pkt []byte) []byte {
	p.mu.Lock()
	fault := p.fault
	p.mu.Unlock()
	if fault == Unreachable {
		return nil
	}
	if isV3(pkt) {
		return p.handleV3(pkt)
	}
	dec := &gosnmp.GoSNMP{Version: gosnmp.Version2c, Logger: gosnmp.NewLogger(nil)}
	req, err := dec.SnmpDecodePacket(pkt)
	if err != nil {
		p.log.Debug("pdusim: undecodable packet dropped", "err", err)
		return nil
	}
	if req.Version != gosnmp.Version1 && req.Version != gosnmp.Version2c {
		p.log.Debug("pdusim: unknown SNMP version; dropped", "version", req.Version)
		return nil
	}
	write := req.Community == p.opt.WriteCommunity
	if !write && req.Community != p.opt.ReadCommunity {
		p.log.Debug("pdusim: unknown community; dropped")
		return nil
	}
	resp := &gosnmp.SnmpPacket{Version: req.Version, Community: req.Community, PDUType: gosnmp.GetResponse,
		RequestID: req.RequestID, Logger: gosnmp.NewLogger(nil)}
	v1 := req.Version == gosnmp.Version1
	switch req.PDUType {
	case gosnmp.GetRequest:
		p.get(req, resp, v1)
	case gosnmp.GetNextRequest:
		p.getNext(req, resp, v1)
	case gosnmp.GetBulkRequest:
		if v1 {
			return nil
		}
		p.getBulk(req, resp)
	case gosnmp.SetRequest:
		p.set(req, resp, v1, write, fault == RefuseSet)
	default:
		return nil
	}
	b, err := resp.MarshalMsg()
	if err != nil {
		p.log.Debug("pdusim: answer not encodable", "err", err)
		return nil
	}
	return b
}

// isV3 says whether a datagram is an SNMPv3 message: a SEQUENCE whose
// first element is the INTEGER 3.
func isV3(pkt []byte) bool {
	r, err := newBERReader(pkt).enter("message")
	if err != nil {
		return false
	}
	v, err := r.integer("msgVersion")
	return err == nil && v == 3
}

func varbind(name string, v value) gosnmp.SnmpPDU {
	switch {
	case v.counter:
		return gosnmp.SnmpPDU{Name: name, Type: gosnmp.Counter32, Value: uint(v.n)}
	case v.isOID:
		return gosnmp.SnmpPDU{Name: name, Type: gosnmp.ObjectIdentifier, Value: v.s}
	case v.ticks:
		return gosnmp.SnmpPDU{Name: name, Type: gosnmp.TimeTicks, Value: uint32(v.n)}
	case v.gauge:
		return gosnmp.SnmpPDU{Name: name, Type: gosnmp.Gauge32, Value: uint(v.n)}
	case v.integer:
		return gosnmp.SnmpPDU{Name: name, Type: gosnmp.Integer, Value: v.n}
	}
	return gosnmp.SnmpPDU{Name: name, Type: gosnmp.OctetString, Value: []byte(v.s)}
}

func (p *PDU) view() *view {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.viewLocked()
}

func (p *PDU) get(req, resp *gosnmp.SnmpPacket, v1 bool) {
	mib := p.view()
	for i, vb := range req.Variables {
		o, ok := parseOID(vb.Name)
		val, found := mib.vals[o.String()]
		if !ok || !found {
			if v1 {
				resp.Error, resp.ErrorIndex = gosnmp.NoSuchName, uint8(i+1)
				resp.Variables = req.Variables
				return
			}
			resp.Variables = append(resp.Variables, gosnmp.SnmpPDU{Name: vb.Name, Type: gosnmp.NoSuchObject})
			continue
		}
		resp.Variables = append(resp.Variables, varbind(o.String(), val))
	}
}

func (p *PDU) getNext(req, resp *gosnmp.SnmpPacket, v1 bool) {
	mib := p.view()
	for i, vb := range req.Variables {
		o, _ := parseOID(vb.Name)
		next, ok := mib.next(o)
		if !ok {
			if v1 {
				resp.Error, resp.ErrorIndex = gosnmp.NoSuchName, uint8(i+1)
				resp.Variables = req.Variables
				return
			}
			resp.Variables = append(resp.Variables, gosnmp.SnmpPDU{Name: vb.Name, Type: gosnmp.EndOfMibView})
			continue
		}
		resp.Variables = append(resp.Variables, varbind(next.String(), mib.vals[next.String()]))
	}
}

// getBulk follows RFC 3416 4.2.3: the first NonRepeaters varbinds get one
// successor, the rest MaxRepetitions each, interleaved.
func (p *PDU) getBulk(req, resp *gosnmp.SnmpPacket) {
	mib := p.view()
	nonRep := min(int(req.NonRepeaters), len(req.Variables))
	reps := min(int(req.MaxRepetitions), 100)
	step := func(name string) (gosnmp.SnmpPDU, string) {
		o, _ := parseOID(name)
		next, ok := mib.next(o)
		if !ok {
			return gosnmp.SnmpPDU{Name: name, Type: gosnmp.EndOfMibView}, name
		}
		return varbind(next.String(), mib.vals[next.String()]), next.String()
	}
	for _, vb := range req.Variables[:nonRep] {
		v, _ := step(vb.Name)
		resp.Variables = append(resp.Variables, v)
	}
	cur := make([]string, 0, len(req.Variables)-nonRep)
	for _, vb := range req.Variables[nonRep:] {
		cur = append(cur, vb.Name)
	}
	for range reps {
		if len(cur) == 0 {
			break
		}
		ended := true
		for j, name := range cur {
			v, n := step(name)
			resp.Variables = append(resp.Variables, v)
			cur[j] = n
			ended = ended && v.Type == gosnmp.EndOfMibView
		}
		// RFC 3416 4.2.3: the agent may stop once every variable has
		// reached the end of the MIB view.
		if ended || len(resp.Variables) > 1000 {
			break
		}
	}
}

func (p *PDU) set(req, resp *gosnmp.SnmpPacket, v1, write, refuse bool) {
	resp.Variables = req.Variables
	fail := func(i int, status gosnmp.SNMPError) {
		resp.Error, resp.ErrorIndex = status, uint8(i+1)
	}
	if !write {
		// Net-SNMP's answer to a read-only community: noAccess (v2c),
		// noSuchName (v1).
		if v1 {
			fail(0, gosnmp.NoSuchName)
		} else {
			fail(0, gosnmp.NoAccess)
		}
		return
	}
	if refuse {
		fail(0, gosnmp.GenErr)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.settleLocked()
	// A SET is all or nothing: apply to a copy, keep it only if every
	// varbind took.
	saved := slices.Clone(p.outlets)
	for i := range saved {
		saved[i].pending = slices.Clone(saved[i].pending)
	}
	savedSets := p.sets
	for i, vb := range req.Variables {
		var err error
		switch vb.Type {
		case gosnmp.Integer:
			n, _ := vb.Value.(int)
			err = p.setLocked(vb.Name, true, n, nil)
		case gosnmp.OctetString:
			s, _ := vb.Value.([]byte)
			err = p.setLocked(vb.Name, false, 0, s)
		default:
			err = errWrongType
		}
		if err != nil {
			p.outlets, p.sets = saved, savedSets
			switch {
			case v1 && errors.Is(err, errNotWritable):
				fail(i, gosnmp.NoSuchName)
			case v1:
				fail(i, gosnmp.BadValue)
			case errors.Is(err, errWrongValue):
				fail(i, gosnmp.WrongValue)
			case errors.Is(err, errWrongType):
				fail(i, gosnmp.WrongType)
			default:
				fail(i, gosnmp.NotWritable)
			}
			return
		}
	}
}
