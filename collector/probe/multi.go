package probe

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/restartinator/restartinator/config"
)

// Multi probes several targets at once and judges the device by how many
// answer: up when at least Need do (require: all, any or N).
type Multi struct {
	probers []Prober
	need    int
	typ     string

	mu   sync.Mutex
	last []Result
}

// NewMulti builds a Multi from the device's probes, each built as New
// builds a single probe. opts.PowerReader serves every power target.
func NewMulti(d *config.DeviceConfig, opts Options) (*Multi, error) {
	m := &Multi{need: d.RequireN}
	if m.need <= 0 || m.need > len(d.Probes) {
		m.need = len(d.Probes)
	}
	for i := range d.Probes {
		one := *d
		one.Probe, one.Probes = &d.Probes[i], nil
		pr, err := New(&one, opts)
		if err != nil {
			return nil, fmt.Errorf("probes[%d]: %w", i, err)
		}
		m.probers = append(m.probers, pr)
		switch {
		case m.typ == "":
			m.typ = pr.Type()
		case m.typ != pr.Type():
			m.typ = "multi"
		}
	}
	return m, nil
}

// Probe runs every target's probe at once and waits for all: each is
// bounded by its own timeout.
func (m *Multi) Probe(ctx context.Context) Result {
	start := time.Now()
	rs := make([]Result, len(m.probers))
	var wg sync.WaitGroup
	for i, p := range m.probers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rs[i] = p.Probe(ctx)
		}()
	}
	wg.Wait()
	m.mu.Lock()
	m.last = rs
	m.mu.Unlock()
	return Judge(rs, m.Targets(), m.need, time.Since(start))
}

// Judge is the device's result from its targets' results: up when at
// least need answered; the error names every target that failed.
func Judge(rs []Result, targets []string, need int, took time.Duration) Result {
	ok := 0
	var failed []string
	var first error
	for i, r := range rs {
		if r.Success {
			ok++
			continue
		}
		if first == nil {
			first = r.Err
		}
		failed = append(failed, fmt.Sprintf("%s: %v", targets[i], r.Err))
	}
	if ok >= need {
		return Result{Success: true, Duration: took}
	}
	return Result{Duration: took, Err: &multiError{
		msg:   fmt.Sprintf("%d of %d targets answered, %d needed (%s)", ok, len(rs), need, strings.Join(failed, "; ")),
		cause: first,
	}}
}

type multiError struct {
	msg   string
	cause error
}

func (e *multiError) Error() string { return e.msg }
func (e *multiError) Unwrap() error { return e.cause }

// Type is the targets' probe type, or "multi" when they differ.
func (m *Multi) Type() string { return m.typ }

// Target lists the targets and what is required of them.
func (m *Multi) Target() string {
	return fmt.Sprintf("%d of %s", m.need, strings.Join(m.Targets(), ", "))
}

// Targets are the targets, in the config's order.
func (m *Multi) Targets() []string {
	ts := make([]string, len(m.probers))
	for i, p := range m.probers {
		ts[i] = p.Target()
	}
	return ts
}

// Need is how many targets must answer.
func (m *Multi) Need() int { return m.need }

// Last is each target's last result, in the config's order (nil before
// the first probe).
func (m *Multi) Last() []Result {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Result(nil), m.last...)
}
