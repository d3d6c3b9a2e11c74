// Package probe owns the checks that decide whether a device answers: a TCP
// connect, an HTTP request, an ICMP echo, or the draw on the device's plug.
//
// A Prober is built once per device by New and then called on every check;
// it keeps what can be reused (the dial target, the HTTP client) and never
// starts goroutines of its own beyond what the library it wraps needs (the
// ICMP pinger). Every probe is bounded by the device's timeout and by the
// caller's context, and explains a failure in Result.Err as a sentence that
// says what failed and what to check.
package probe
