package webhook

import (
	"strconv"
	"unicode/utf8"
)

// outcome is what became of one alert: one entry of the response body.
type outcome struct {
	fingerprint string
	alertname   string
	device      string
	action      action
	result      result
	detail      string
}

// Reply statuses in the response body.
const (
	replyOK    = "ok"    // every alert was handled or deliberately skipped
	replyRetry = "retry" // some action failed in a way a retry can help
	replyError = "error" // the request was refused; nothing was acted on
)

// appendSummary appends the response body:
//
//	{"status":"ok","alerts":[{"fingerprint":"…","alertname":"…","device":"…","action":"cycle","result":"started","detail":"…"}],"truncated_alerts":0}
//
// It is written by hand so the reply costs no reflection.
func appendSummary(b []byte, status string, outs []outcome, truncated uint64) []byte {
	b = append(b, `{"status":`...)
	b = appendString(b, status)
	b = append(b, `,"alerts":[`...)
	for i := range outs {
		o := &outs[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"fingerprint":`...)
		b = appendString(b, o.fingerprint)
		b = append(b, `,"alertname":`...)
		b = appendString(b, o.alertname)
		if o.device != "" {
			b = append(b, `,"device":`...)
			b = appendString(b, o.device)
		}
		b = append(b, `,"action":`...)
		b = appendString(b, o.action.String())
		b = append(b, `,"result":`...)
		b = appendString(b, o.result.String())
		if o.detail != "" {
			b = append(b, `,"detail":`...)
			b = appendString(b, o.detail)
		}
		b = append(b, '}')
	}
	b = append(b, `],"truncated_alerts":`...)
	b = strconv.AppendUint(b, truncated, 10)
	return append(b, '}')
}

// appendError appends the body of a refused request.
func appendError(b []byte, msg string) []byte {
	b = append(b, `{"status":"error","error":`...)
	b = appendString(b, msg)
	return append(b, '}')
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string, escaped as encoding/json does
// (HTML-safe, invalid UTF-8 replaced by U+FFFD).
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		// U+2028 and U+2029 break JavaScript that embeds JSON.
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
