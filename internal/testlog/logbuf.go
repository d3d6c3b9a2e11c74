// Package testlog holds a log sink shared by the tests of several packages.
package testlog

import (
	"bytes"
	"sync"
)

// Buffer is an io.Writer for logs that a test may read while other
// goroutines still write to it.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *Buffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *Buffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
