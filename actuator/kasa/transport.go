package kasa

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/restartinator/restartinator/actuator/kasa/internal/wire"
)

// transport carries one JSON request to the device and brings back its answer.
type transport interface {
	send(ctx context.Context, req []byte) ([]byte, error)
	name() string // "xor", "klap" or "aes"
	close() error
}

// connError is a network failure told in a few words ("connection refused")
// while keeping the cause for errors.Is.
type connError struct {
	msg string
	err error
}

func (e *connError) Error() string { return e.msg }
func (e *connError) Unwrap() error { return e.err }

// describe shortens a network error to what a person needs to read.
func describe(err error, timeout time.Duration) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, context.Canceled):
		return err
	case errors.Is(err, syscall.ECONNREFUSED):
		return &connError{"connection refused", err}
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return &connError{"the plug reset the connection", err}
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return &connError{"the plug closed the connection", err}
	case errors.Is(err, context.DeadlineExceeded), isTimeout(err):
		return &connError{fmt.Sprintf("no answer within %s", timeout), err}
	}
	return err
}

// deadline is the earlier of ctx's deadline and now+timeout.
func deadline(ctx context.Context, timeout time.Duration) time.Time {
	d := time.Now().Add(timeout)
	if cd, ok := ctx.Deadline(); ok && cd.Before(d) {
		return cd
	}
	return d
}

// xorTransport speaks the legacy protocol on TCP 9999. The device keeps the
// connection open, so it is reused; when the device (or a simulator that
// closes after each answer) has dropped it, the request is sent once more on
// a fresh connection.
type xorTransport struct {
	addr    string
	timeout time.Duration

	mu   sync.Mutex
	conn net.Conn
}

func newXORTransport(addr string, timeout time.Duration) *xorTransport {
	return &xorTransport{addr: addr, timeout: timeout}
}

func (t *xorTransport) name() string { return "xor" }

func (t *xorTransport) send(ctx context.Context, req []byte) ([]byte, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	frame := wire.AppendFrame(make([]byte, 0, 4+len(req)), req)
	for attempt := 0; ; attempt++ {
		reused := t.conn != nil
		if !reused {
			d := net.Dialer{Deadline: deadline(ctx, t.timeout)}
			c, err := d.DialContext(ctx, "tcp", t.addr)
			if err != nil {
				return nil, describe(err, t.timeout)
			}
			t.conn = c
		}
		resp, err := t.exchange(ctx, frame)
		if err == nil {
			return resp, nil
		}
		t.conn.Close()
		t.conn = nil
		if reused && attempt == 0 && ctx.Err() == nil && isDropped(err) {
			continue
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, describe(err, t.timeout)
	}
}

func (t *xorTransport) exchange(ctx context.Context, frame []byte) ([]byte, error) {
	c := t.conn
	c.SetDeadline(deadline(ctx, t.timeout))
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if _, err := c.Write(frame); err != nil {
		return nil, err
	}
	resp, err := wire.ReadFrame(c)
	if errors.Is(err, wire.ErrFrameTooLarge) {
		return nil, fmt.Errorf("%w: %w", errProtocol, err)
	}
	return resp, err
}

// isDropped says whether err is what a connection the peer already closed
// gives, so a retry on a new connection is safe.
func isDropped(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

func (t *xorTransport) close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.conn == nil {
		return nil
	}
	err := t.conn.Close()
	t.conn = nil
	return err
}
