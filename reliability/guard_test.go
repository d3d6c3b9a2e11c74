package reliability

import (
	"fmt"
	"math/rand/v2"
	"net"
	"testing"
	"time"

	"github.com/restartinator/restartinator/actuator"
	"github.com/restartinator/restartinator/collector"
)

// listenOutsideEphemeral listens on a loopback port below the ephemeral
// range (32768-60999 on Linux). A closed loopback port inside that range
// can "answer" again: after some thousands of refused dials to it, the
// kernel hands out that very port as a source port and the dial connects
// to itself. The guard target is dialled every second and closed for
// minutes, so it must stay out of that range.
func listenOutsideEphemeral(t *testing.T) net.Listener {
	t.Helper()
	for range 200 {
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", 20000+rand.IntN(12000)))
		if err == nil {
			return ln
		}
	}
	t.Fatal("no free loopback port between 20000 and 32000")
	return nil
}

// TestGuardDownWhile100DevicesFail is issue 9 item 8: the guard target and
// 100 devices go down at the same instant. Nothing may be cycled while no
// guard target answers; once it answers, every device still down is cycled,
// once, and comes back.
func TestGuardDownWhile100DevicesFail(t *testing.T) {
	enabled(t)
	devices := scaled(100)
	began := time.Now()
	guard := listenOutsideEphemeral(t)
	guardAddr := guard.Addr().String()
	t.Cleanup(func() { guard.Close() })
	// The ratio check is off (1): this test is about the guard target.
	// Detection takes at least two retry intervals after the first failed
	// check, so the guard (every second) sees the outage first.
	r := newRig(t, rigOptions{
		devices:  devices,
		global:   fmt.Sprintf("max_concurrent_cycles: 10, guard: {targets: [%q], check_interval: 1s, timeout: 500ms, max_failing_ratio: 1}", guardAddr),
		settings: "check_interval: 10s, retry_interval: 1s, retries: 3, timeout: 1s, cycle_time: 5500ms, boot_time: 60s, max_cycles: 2, cycle_window: 1h",
	})
	// Power back brings a device back, as for a device that really hung.
	r.onUpdate = func(u actuator.Update) {
		if u.Phase == actuator.PhaseBooting {
			for _, d := range u.Request.Devices {
				r.setUp(d, true)
			}
		}
	}
	// Every device probes once and is up.
	for range 11 {
		r.tick(time.Second)
	}
	for name, s := range r.snapshot() {
		if s.State != collector.StateUp {
			t.Fatalf("%s is %s before the outage", name, s.State)
		}
	}

	// The outage: the guard target and every device at once.
	guard.Close()
	for _, name := range r.names {
		r.setUp(name, false)
	}
	heldAt := time.Duration(0)
	const hold = 120 * time.Second
	for elapsed := time.Second; elapsed <= hold; elapsed += time.Second {
		r.tick(time.Second)
		if heldAt == 0 {
			held := 0
			for _, s := range r.snapshot() {
				if s.State == collector.StateHeld {
					held++
				}
			}
			if held == devices {
				heldAt = elapsed
			}
		}
		if n := len(r.updatesOf(actuator.PhaseCycling)); n > 0 {
			t.Fatalf("%d cycles started %s into the outage while no guard target answers", n, elapsed)
		}
	}
	if heldAt == 0 {
		for name, s := range r.snapshot() {
			if s.State != collector.StateHeld {
				t.Errorf("%s is %s after %s of outage, want held", name, s.State, hold)
			}
		}
		t.FailNow()
	}
	if off := r.relaysOff(); off != 0 {
		t.Fatalf("%d outlets off during the hold", off)
	}
	if !r.sup.GuardDown() {
		t.Fatal("the guard does not see its target down")
	}
	heldEvents := len(r.eventsOf("held", ""))

	// The guard target answers again; the devices are still hung.
	ln, err := net.Listen("tcp", guardAddr)
	if err != nil {
		t.Fatalf("listening again on %s: %v", guardAddr, err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	var resumedAt time.Duration
	const within = 10 * time.Minute
	for elapsed := time.Duration(0); ; {
		r.tick(500 * time.Millisecond)
		elapsed += 500 * time.Millisecond
		if resumedAt == 0 && len(r.updatesOf(actuator.PhaseCycling)) > 0 {
			resumedAt = elapsed
		}
		up := 0
		for _, s := range r.snapshot() {
			if s.State == collector.StateUp {
				up++
			}
		}
		if up == devices && r.active.Load() == 0 {
			break
		}
		if elapsed > within {
			t.Fatalf("%d of %d devices up %s after the guard target came back; %d cycles started", up, devices, within, len(r.updatesOf(actuator.PhaseCycling)))
		}
	}
	perDevice := map[string]int{}
	for _, u := range r.updatesOf(actuator.PhaseCycling) {
		for _, d := range u.Request.Devices {
			perDevice[d]++
		}
	}
	for _, name := range r.names {
		if perDevice[name] != 1 {
			t.Errorf("%s cycled %d times after the guard target came back, want once", name, perDevice[name])
		}
	}
	if off := r.relaysOff(); off != 0 {
		t.Errorf("%d outlets left off", off)
	}
	lastBoot := r.updatesOf(actuator.PhaseBooting)
	report(t, "%d devices down with the guard target for %s (fake clock): all held after %s, 0 cycles, 0 outlets off, %d held events",
		devices, hold, heldAt, heldEvents)
	report(t, "guard target back: first cycle after %s, %d cycles (max_concurrent_cycles 10), all %d devices up by %s; %s real time",
		resumedAt, len(r.updatesOf(actuator.PhaseCycling)), devices, lastBoot[len(lastBoot)-1].Time.Sub(t0).Round(time.Second), time.Since(began).Round(time.Millisecond))
}
