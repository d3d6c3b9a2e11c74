package snmppdu

import "errors"

var (
	// ErrUnknownPDU: the agent's sysObjectID is not in Families.
	ErrUnknownPDU = errors.New("unknown PDU")
	// ErrNoSuchOutlet: the PDU has no outlet of that number or name.
	ErrNoSuchOutlet = errors.New("no such outlet")
	// ErrBadAnswer: the PDU answered with a value of the wrong type or range.
	ErrBadAnswer = errors.New("unexpected answer from the PDU")
)
