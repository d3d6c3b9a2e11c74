// Package wire holds the byte-level parts of the Kasa protocols that both the
// client (package kasa) and the simulator (package kasasim) speak: the XOR
// autokey cipher and its length-prefixed frames, the KLAP key derivation and
// AES-128-CBC session, and the TDP header of discovery on UDP 20002.
package wire
