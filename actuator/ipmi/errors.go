package ipmi

import (
	"context"
	"errors"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"syscall"

	"github.com/bougou/go-ipmi/pkg/client"
	"github.com/bougou/go-ipmi/pkg/types"
)

var (
	// ErrAuth: the BMC does not know the user, or the password is wrong.
	ErrAuth = errors.New("the BMC refused the login")
	// ErrPrivilege: the account may not have the privilege level asked
	// for, or the command needs a higher one.
	ErrPrivilege = errors.New("privilege level refused")
	// ErrCipherSuite: the BMC offers none of the cipher suites asked for.
	ErrCipherSuite = errors.New("cipher suite refused")
	// ErrUnreachable: no answer from the BMC in time, or the port is closed.
	ErrUnreachable = errors.New("the BMC did not answer")
	// ErrBadAnswer: the BMC answered something go-ipmi could not decode.
	ErrBadAnswer = errors.New("unexpected answer from the BMC")
)

// completionCodes names the generic completion codes of IPMI v2.0 table
// 5-2. Command-specific codes (80h-BEh) are in commandCodes.
var completionCodes = map[uint8]string{
	0x00: "command completed normally",
	0xC0: "node busy",
	0xC1: "invalid command (the BMC does not implement it)",
	0xC2: "command invalid for given LUN",
	0xC3: "timeout while processing command",
	0xC4: "out of space",
	0xC5: "reservation canceled or invalid reservation ID",
	0xC6: "request data truncated",
	0xC7: "request data length invalid",
	0xC8: "request data field length limit exceeded",
	0xC9: "parameter out of range",
	0xCA: "cannot return number of requested data bytes",
	0xCB: "requested sensor, data, or record not present",
	0xCC: "invalid data field in request",
	0xCD: "command illegal for specified sensor or record type",
	0xCE: "command response could not be provided",
	0xCF: "cannot execute duplicated request",
	0xD0: "SDR repository in update mode",
	0xD1: "device in firmware update mode",
	0xD2: "BMC initialization or initialization agent in progress",
	0xD3: "destination unavailable",
	0xD4: "cannot execute command due to insufficient privilege level",
	0xD5: "cannot execute command: not supported in present state",
	0xD6: "cannot execute command: sub-function disabled or unavailable",
	0xFF: "unspecified error",
}

// commandCodes names the command-specific completion codes of the commands
// this driver sends (IPMI v2.0 section 22.18, Set Session Privilege Level).
var commandCodes = map[uint8]map[uint8]string{
	0x3B: { // Set Session Privilege Level
		0x80: "requested level not available for this user",
		0x81: "requested level exceeds channel and/or user privilege limit",
		0x82: "cannot disable user level authentication",
	},
}

// rmcpStatus names the RMCP+ and RAKP status codes of IPMI v2.0 table 13-15.
var rmcpStatus = map[uint8]string{
	0x01: "insufficient resources to create a session",
	0x02: "invalid session ID",
	0x03: "invalid payload type",
	0x04: "invalid authentication algorithm",
	0x05: "invalid integrity algorithm",
	0x06: "no matching authentication payload",
	0x07: "no matching integrity payload",
	0x08: "inactive session ID",
	0x09: "invalid role",
	0x0A: "unauthorized role or privilege level requested",
	0x0B: "insufficient resources to create a session at the requested role",
	0x0C: "invalid name length",
	0x0D: "unauthorized name",
	0x0E: "unauthorized GUID",
	0x0F: "invalid integrity check value",
	0x10: "invalid confidentiality algorithm",
	0x11: "no cipher suite match with proposed security algorithms",
	0x12: "illegal or unrecognized parameter",
}

// CompletionError is a command the BMC answered with a completion code
// other than 00h.
type CompletionError struct {
	Command string // e.g. "Chassis Control (power cycle)"
	Code    uint8
}

func (e *CompletionError) Error() string {
	return fmt.Sprintf("%s: completion code %#02x: %s", e.Command, e.Code, codeName(0, e.Code))
}

// Is makes a refused privilege match ErrPrivilege.
func (e *CompletionError) Is(target error) bool {
	return target == ErrPrivilege && e.Code == 0xD4
}

// codeName names a completion code, command-specific ones first.
func codeName(cmd uint8, cc uint8) string {
	if n, ok := commandCodes[cmd][cc]; ok {
		return n
	}
	if n, ok := completionCodes[cc]; ok {
		return n
	}
	switch {
	case cc >= 0x01 && cc <= 0x7E:
		return "device-specific (OEM) code"
	case cc >= 0x80 && cc <= 0xBE:
		return "command-specific code"
	}
	return "reserved code"
}

// statusName names an RMCP+ status code.
func statusName(code uint8) string {
	if n, ok := rmcpStatus[code]; ok {
		return n
	}
	return "reserved status code"
}

// classify turns what go-ipmi returned while opening the session into one
// of our errors with a hint; priv and suites say what was asked for.
func classify(err error, user string, priv string, suites []int) error {
	if err == nil {
		return nil
	}
	codes := statusCodes(err)
	has := func(want ...uint8) (uint8, bool) {
		for _, c := range codes {
			for _, w := range want {
				if c == w {
					return c, true
				}
			}
		}
		return 0, false
	}
	what := func(code uint8) string { return fmt.Sprintf("RMCP+ status %#02x (%s)", code, statusName(code)) }
	// With several cipher suites tried, each failed its own way: the
	// login's failure says more than a suite the BMC lacks.
	if code, ok := has(0x0D, 0x0C); ok {
		return fmt.Errorf("%w: %s: no user %q on the BMC — check username", ErrAuth, what(code), user)
	}
	if errors.Is(err, client.ErrRAKPAuthentication) || strings.Contains(err.Error(), client.ErrRAKPAuthentication.Error()) {
		return fmt.Errorf("%w: the BMC's RAKP 2 code does not match the password — check the password of %q", ErrAuth, user)
	}
	if code, ok := has(0x0F, 0x0E); ok {
		return fmt.Errorf("%w: %s: the BMC says our key exchange was wrong — check the password of %q", ErrAuth, what(code), user)
	}
	if code, ok := has(0x09, 0x0A, 0x0B); ok {
		return fmt.Errorf("%w: %s: user %q may not open a session at privilege %s — lower privilege: (operator is enough to switch power) or raise the account's limit", ErrPrivilege, what(code), user, priv)
	}
	var re *types.ResponseError
	if errors.As(err, &re) {
		cc := uint8(re.CompletionCode())
		if cc == 0 {
			// go-ipmi reports an answer it could not unpack as code 00h.
			return fmt.Errorf("%w: %w", ErrBadAnswer, err)
		}
		// Only Set Session Privilege Level is sent by go-ipmi during the
		// session set-up with a completion code we can get here.
		ce := &CompletionError{Command: "Set Session Privilege Level " + priv, Code: cc}
		name := codeName(0x3B, cc)
		switch cc {
		case 0x80, 0x81, 0xD4:
			return fmt.Errorf("%w: Set Session Privilege Level %s: completion code %#02x: %s — lower privilege: (operator is enough to switch power) or raise the limit of %q", ErrPrivilege, priv, cc, name, user)
		}
		return ce
	}
	if code, ok := has(0x04, 0x05, 0x06, 0x07, 0x10, 0x11); ok {
		return fmt.Errorf("%w: %s: the BMC offers none of cipher suites %v — set cipher_suite: to one it lists (ipmitool channel getciphers ipmi)", ErrCipherSuite, what(code), suites)
	}
	if code, ok := has(0x01); ok {
		return fmt.Errorf("%w: %s: the BMC has no free session — too many open sessions (close other consoles) or retry later", ErrUnreachable, what(code))
	}
	if len(codes) > 0 {
		return fmt.Errorf("%s: %w", what(codes[0]), err)
	}
	n := network(err)
	if errors.Is(n, ErrUnreachable) {
		return n
	}
	// go-ipmi formats this inner error with %s, so only its text is left.
	if msg := err.Error(); strings.Contains(msg, "Open Session failed") && strings.Contains(msg, types.ErrUnpackedDataTooShort.Error()) {
		// A BMC refusing the proposed algorithms may answer the Open
		// Session with only its tag and status byte (ipmi_sim does for
		// suite 17), which go-ipmi fails to unpack before it reads the
		// status.
		return fmt.Errorf("%w: the BMC refused the RMCP+ Open Session with a short answer, as BMCs do for algorithms they lack: it likely offers none of cipher suites %v — set cipher_suite: to one it lists (ipmitool channel getciphers ipmi) (%w)", ErrCipherSuite, suites, err)
	}
	return n
}

// statusRE finds RMCP+ status codes in go-ipmi's text: Connect joins the
// errors of the cipher suites it tried with %v, which drops their types.
var statusRE = regexp.MustCompile(`RMCP\+ status (0x[0-9a-fA-F]{1,2})`)

// statusCodes lists the RMCP+ status codes in err, typed or in its text.
func statusCodes(err error) []uint8 {
	var codes []uint8
	var rs *types.RmcpStatusError
	if errors.As(err, &rs) {
		codes = append(codes, uint8(rs.StatusCode()))
	}
	for _, m := range statusRE.FindAllStringSubmatch(err.Error(), -1) {
		if v, perr := strconv.ParseUint(m[1][2:], 16, 8); perr == nil {
			codes = append(codes, uint8(v))
		}
	}
	return codes
}

// network classifies a transport failure.
func network(err error) error {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout(),
		// go-ipmi's own "no answer after its retries" is unexported.
		strings.Contains(err.Error(), "no datagram matched before deadline"):
		return fmt.Errorf("%w in time — is IPMI over LAN enabled on the BMC, and UDP port 623 reachable? (%w)", ErrUnreachable, err)
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("%w: the port is closed (ICMP port unreachable) — is this the BMC's address and port? (%w)", ErrUnreachable, err)
	}
	return err
}

// commandError classifies the error of one command sent in a session at
// privilege priv.
func commandError(what, priv string, err error) error {
	var re *types.ResponseError
	if errors.As(err, &re) {
		ce := &CompletionError{Command: what, Code: uint8(re.CompletionCode())}
		if ce.Code == 0 {
			// go-ipmi reports an answer it could not unpack as code 00h.
			return fmt.Errorf("%s: %w: %w", what, ErrBadAnswer, err)
		}
		if ce.Code == 0xD4 {
			return fmt.Errorf("%w — a session at privilege %s may not send it: raise privilege: (operator switches power; administrator sets the power cycle interval)", ce, priv)
		}
		return ce
	}
	return fmt.Errorf("%s: %w", what, network(err))
}
